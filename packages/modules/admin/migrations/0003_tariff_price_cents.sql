-- @diana/admin 0003: tariff prices in cents (staff type "9,99"); earlier whole prices are kept
-- as the same amount.
alter table admin_tariffs alter column price type bigint;
update admin_tariffs set price = price * 100;
alter table admin_tariffs rename column price to price_cents;
