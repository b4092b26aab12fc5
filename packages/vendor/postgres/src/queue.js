export default Queue

function Queue(initial = []) {
  let xs = initial.slice()
  let index = 0

  return {
    get length() {
      return xs.length - index
    },
    remove: (x) => {
      // @diana/postgres: the search starts at the head (slots before it are already shifted out)
      const at = xs.indexOf(x, index)
      return at === -1
        ? null
        : (xs.splice(at, 1), x)
    },
    push: (x) => (xs.push(x), x),
    // @diana/postgres: the newest entry, or undefined when empty (see connection.js `execute`)
    last: () => (xs.length > index ? xs[xs.length - 1] : undefined),
    shift: () => {
      const out = xs[index++]

      if (index === xs.length) {
        index = 0
        xs = []
      } else if (index >= 32 && index * 2 >= xs.length) {
        // @diana/postgres: a queue that never runs empty (the busy connections under steady
        // load) dropped its shifted-out slots only when empty, so it grew without bound and
        // every remove() scanned the holes; half holes or more, they are dropped now
        xs = xs.slice(index)
        index = 0
      } else {
        xs[index - 1] = undefined
      }

      return out
    }
  }
}
