-- @diana/gamification 0002: the narrative clues each user holds (found in the story, from
-- narrative.clue_found, or bought), so the shop never sells a clue's item to its owner.
create table gamification_clues (
  user_id  uuid not null references users (id),
  clue     text not null check (char_length(clue) between 1 and 64),
  since    timestamptz not null default now(),
  primary key (user_id, clue)
);
