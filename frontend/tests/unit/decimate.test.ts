import type { Aligned } from '../../src/charts/series'
import { describe, expect, it } from 'vitest'
import { decimate } from '../../src/charts/series'

function wave(n: number): Aligned {
  const x = Array.from({ length: n }, (_, i) => i * 10)
  const y = x.map((_, i) => Math.sin(i / 50) * 100 + (i === 12_345 ? 900 : 0))
  const z = x.map((_, i) => (i % 7 === 0 ? null : -i))
  return [x, y, z]
}

describe('decimate', () => {
  it('leaves data a chart can draw as it is alone', () => {
    const data = wave(1000)
    expect(decimate(data, null, 600)).toBe(data)
  })

  it('draws 20,000 points as a few per pixel and keeps every peak', () => {
    const data = wave(20_000)
    const out = decimate(data, null, 600)
    expect(out[0].length).toBeLessThan(600 * 6)
    expect(out[0].length).toBeGreaterThan(600)
    expect(Math.max(...(out[1] as number[]))).toBe(Math.max(...(data[1] as number[])))
    expect(out[0][0]).toBe(0)
    expect(out[0].at(-1)).toBe(199_990)
    // x stays sorted and every kept value is a real sample at its x.
    for (let i = 1; i < out[0].length; i++)
      expect(out[0][i]!).toBeGreaterThan(out[0][i - 1]!)
    const at = new Map(data[0].map((x, i) => [x, i]))
    for (let i = 0; i < out[0].length; i += 97)
      expect(out[1]![i]).toBe(data[1]![at.get(out[0][i]!)!])
  })

  it('a zoomed range keeps full detail there and one point beyond each edge', () => {
    const data = wave(20_000)
    const out = decimate(data, [50_000, 52_000], 600)
    const inside = out[0].filter(x => x >= 50_000 && x <= 52_000)
    expect(inside.length).toBe(201) // all of them: fewer than the chart's pixels
    expect(out[0][0]).toBe(49_990)
    expect(out[0].at(-1)).toBe(52_010)
  })
})
