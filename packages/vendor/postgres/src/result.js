// @diana/postgres: the result's fields live in private fields behind accessors on the class,
// not in five own non-enumerable properties set with Object.defineProperties on every result
// (2% of the bot's CPU profile at 100 updates/s; about 5 times cheaper so). They stay out of
// Object.keys, JSON and test equality as before; `result.count = n` still sets them.
export default class Result extends Array {
  #count = null
  #state = null
  #command = null
  #columns = null
  #statement = null

  get count() { return this.#count }
  set count(x) { this.#count = x }
  get state() { return this.#state }
  set state(x) { this.#state = x }
  get command() { return this.#command }
  set command(x) { this.#command = x }
  get columns() { return this.#columns }
  set columns(x) { this.#columns = x }
  get statement() { return this.#statement }
  set statement(x) { this.#statement = x }
}

// @diana/postgres: a data property, not a static getter (the same value: `map`, `filter` and
// `slice` of a result return plain arrays), as Query's species in query.js: each derived array
// looks it up, and a getter is a call each time where a data property is a load
Object.defineProperty(Result, Symbol.species, { value: Array, configurable: true })
