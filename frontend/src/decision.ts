/** Index of the greedy action: highest Q among legal actions (first on ties), or null if none is legal. */
export function greedyIndex(q: readonly number[], mask: readonly boolean[]): number | null {
  let best: number | null = null
  q.forEach((value, i) => {
    if (mask[i] !== true)
      return
    if (best === null || value > (q[best] ?? -Infinity))
      best = i
  })
  return best
}

/** Bar lengths in [0.06, 1] for Q-values, relative to their own min..max. */
export function barFractions(q: readonly number[]): number[] {
  if (q.length === 0)
    return []
  const lo = Math.min(...q)
  const hi = Math.max(...q)
  const span = hi - lo
  return q.map(v => (span > 0 ? 0.06 + 0.94 * ((v - lo) / span) : 1))
}
