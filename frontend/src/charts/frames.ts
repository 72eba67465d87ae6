/**
 * One chart redraw per animation frame. Charts ask to be redrawn when their data changes; a
 * chart already waiting is not queued twice (it draws its newest data when its turn comes).
 * Without requestAnimationFrame (tests, background tabs' timers) a timeout stands in.
 */
const waiting: Array<() => void> = []
let scheduled = false

function nextFrame(run: () => void): void {
  if (typeof requestAnimationFrame === 'function')
    requestAnimationFrame(() => run())
  else
    setTimeout(run, 0)
}

function drawOne(): void {
  const draw = waiting.shift()
  draw?.()
  if (waiting.length > 0)
    nextFrame(drawOne)
  else
    scheduled = false
}

export function drawInOwnFrame(draw: () => void): void {
  if (waiting.includes(draw))
    return
  waiting.push(draw)
  if (!scheduled) {
    scheduled = true
    nextFrame(drawOne)
  }
}

/** Forget a chart's pending redraw (it is being unmounted). */
export function cancelDraw(draw: () => void): void {
  const at = waiting.indexOf(draw)
  if (at >= 0)
    waiting.splice(at, 1)
}
