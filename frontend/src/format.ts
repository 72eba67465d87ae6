/** Small, pure formatting helpers shared by the panels. */

const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

export function formatInt(n: number): string {
  return intFormat.format(n)
}

/** 1234567 -> "1.23M", 45210 -> "45.2k"; small numbers stay exact. */
export function formatCompact(n: number): string {
  const abs = Math.abs(n)
  if (abs >= 1e9)
    return `${(n / 1e9).toPrecision(3)}B`
  if (abs >= 1e6)
    return `${(n / 1e6).toPrecision(3)}M`
  if (abs >= 1e4)
    return `${(n / 1e3).toPrecision(3)}k`
  return formatInt(n)
}

export function formatSigned(n: number, digits = 2): string {
  const s = n.toFixed(digits)
  return n > 0 ? `+${s}` : s
}

/** Milliseconds as "just now", "42 s", "3 min", "2 h 5 min", "3 d". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 2)
    return 'just now'
  if (s < 60)
    return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60)
    return `${m} min`
  const h = Math.floor(m / 60)
  if (h < 48)
    return m % 60 ? `${h} h ${m % 60} min` : `${h} h`
  return `${Math.floor(h / 24)} d`
}

export function formatAgo(then: number, now: number): string {
  const d = formatDuration(now - then)
  return d === 'just now' ? d : `${d} ago`
}

/** Steps per second with sensible precision. */
export function formatRate(r: number): string {
  if (r >= 100)
    return formatInt(r)
  if (r >= 10)
    return r.toFixed(0)
  return r.toFixed(1)
}

/** Hour of day (0-23, may be fractional) as "14:00". */
export function formatHour(h: number): string {
  const wrapped = ((h % 24) + 24) % 24
  const hh = Math.floor(wrapped)
  const mm = Math.floor((wrapped - hh) * 60)
  return `${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}`
}
