/**
 * How the Townlet world looks on the page: colours, icons, labels, and how meter values read.
 * The world's rules (terminal meters, the cascade threshold, the money scale, the speed range)
 * are not here: they come from the server's hello (`hello.world`), so the page keeps no copies.
 * Names the page does not know still render, with a neutral look.
 */

import type { MeterFact, SpeedRange, WorldFacts } from './protocol'

/** Presentation: a meter this far above the cascade threshold is still worth a glance. */
export const WARN_MARGIN = 0.2

/** The money meter is not a body meter: it has no cascade and reads in dollars. */
export const MONEY_METER = 'money'
/** Presentation: money is "low" when little is affordable, in dollars. */
const MONEY_LOW_DOLLARS = 10
const MONEY_WARN_DOLLARS = 20

export type MeterLevel = 'ok' | 'warn' | 'low'

export function meterFact(world: WorldFacts | null, name: string): MeterFact | undefined {
  return world?.meters.find(m => m.name === name)
}

/** Low below the world's cascade threshold, warn a little above it; money by dollars. */
export function meterLevel(value: number, name: string, world: WorldFacts): MeterLevel {
  const [low, warn] = name === MONEY_METER
    ? [MONEY_LOW_DOLLARS / world.money_scale, MONEY_WARN_DOLLARS / world.money_scale]
    : [world.cascade_threshold, world.cascade_threshold + WARN_MARGIN]
  if (value < low)
    return 'low'
  if (value < warn)
    return 'warn'
  return 'ok'
}

/** Whether a meter's bar carries the cascade-threshold tick (money has no cascade). */
export function hasThresholdTick(name: string): boolean {
  return name !== MONEY_METER
}

/** Money travels as dollars / money_scale; other meters as fractions. */
export function formatMeter(name: string, value: number, world: WorldFacts | null): string {
  if (name === MONEY_METER && world)
    return `$${Math.round(value * world.money_scale)}`
  return value.toFixed(2)
}

/** Presentation: round paces the speed control offers, kept to the world's speed range. */
const SPEED_CANDIDATES = [0.5, 1, 2, 5, 10, 20, 60, 120, 240]
const MAX_SPEED_BUTTONS = 7

/** Speed buttons for a range: its two ends and the round paces between them (at most 7). */
export function speedPresets(range: SpeedRange | null): number[] {
  if (!range)
    return []
  const inside = SPEED_CANDIDATES.filter(p => p > range.min + 1e-9 && p < range.max - 1e-9)
  const room = MAX_SPEED_BUTTONS - 2
  // Too many: keep an even spread between the ends.
  const picked = inside.length <= room
    ? inside
    : Array.from({ length: room }, (_, i) => inside[Math.round((i * (inside.length - 1)) / (room - 1))] ?? range.min)
  return [...new Set([range.min, ...picked, range.max])]
}

export const METER_COLORS: Record<string, string> = {
  energy: '#facc15',
  hygiene: '#38bdf8',
  satiation: '#fb923c',
  money: '#a3e635',
  mood: '#f472b6',
  social: '#a78bfa',
  health: '#f87171',
  fitness: '#34d399',
}

export type Category = 'rest' | 'hygiene' | 'food' | 'care' | 'mood' | 'social' | 'work' | 'fitness' | 'other'

export const CATEGORY_COLORS: Record<Category, string> = {
  rest: '#818cf8',
  hygiene: '#38bdf8',
  food: '#fb923c',
  care: '#f87171',
  mood: '#f472b6',
  social: '#c084fc',
  work: '#facc15',
  fitness: '#34d399',
  other: '#94a3b8',
}

export interface AffordanceLook {
  label: string
  category: Category
  /** Stroke paths on a 24 x 24 canvas. */
  paths: string[]
}

/** A circle as a path, so every icon is a list of `d` strings. */
function circle(cx: number, cy: number, r: number): string {
  return `M${cx - r} ${cy}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0`
}

const LOOKS: Record<string, AffordanceLook> = {
  Bed: {
    label: 'Bed',
    category: 'rest',
    paths: ['M3 7v12', 'M3 16h18v3', 'M21 16v-2.5a2.5 2.5 0 0 0-2.5-2.5H11v5', circle(7, 13.5, 1.6)],
  },
  LuxuryBed: {
    label: 'Lux Bed',
    category: 'rest',
    paths: ['M3 9v10', 'M3 16h18v3', 'M21 16v-2.5a2.5 2.5 0 0 0-2.5-2.5H11v5', circle(7, 13.5, 1.6), 'M12 8V3.5l2.2 2 2-3 2 3 2.3-2V8z'],
  },
  Shower: {
    label: 'Shower',
    category: 'hygiene',
    paths: ['M5 21V7a3 3 0 0 1 3-3h3a3 3 0 0 1 3 3v1', 'M10.5 8h7', 'M11 12v1.5', 'M14 12v1.5', 'M17 12v1.5', 'M12.5 16v1.5', 'M15.5 16v1.5', 'M14 20v1'],
  },
  HomeMeal: {
    label: 'Meal',
    category: 'food',
    paths: ['M3 12h18a9 7 0 0 1-18 0z', 'M9 9c0-1.5 1.5-1.5 1.5-3.5', 'M13.5 9c0-1.5 1.5-1.5 1.5-3.5', 'M8 21h8'],
  },
  FastFood: {
    label: 'Fast Food',
    category: 'food',
    paths: ['M4 11a8 6 0 0 1 16 0z', 'M3 14.5h18', 'M4 17.5h16v1a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2z'],
  },
  Doctor: {
    label: 'Doctor',
    category: 'care',
    paths: ['M6 3v5a4 4 0 0 0 8 0V3', 'M10 12v3a5 5 0 0 0 10 0v-2', circle(20, 11, 2)],
  },
  Hospital: {
    label: 'Hospital',
    category: 'care',
    paths: ['M4 21V5a1 1 0 0 1 1-1h14a1 1 0 0 1 1 1v16', 'M2 21h20', 'M12 7v6', 'M9 10h6', 'M10 21v-4h4v4'],
  },
  Therapist: {
    label: 'Therapist',
    category: 'mood',
    paths: ['M4 4h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1h-9l-5 4v-4H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z', 'M12 13.2l-2.8-2.7a1.7 1.7 0 0 1 2.8-2a1.7 1.7 0 0 1 2.8 2z'],
  },
  Recreation: {
    label: 'Recreation',
    category: 'mood',
    paths: ['M6.5 8h11a4.5 4.5 0 0 1 4.5 4.5v1a3 3 0 0 1-5.4 1.8L15 13.5H9l-1.6 1.8A3 3 0 0 1 2 13.5v-1A4.5 4.5 0 0 1 6.5 8z', 'M7 10v3.5', 'M5.25 11.75h3.5', 'M16 10.5h.01', 'M18 12.5h.01'],
  },
  Bar: {
    label: 'Bar',
    category: 'social',
    paths: ['M4 4h16l-8 9z', 'M12 13v7', 'M8 20h8', 'M7 7h10'],
  },
  Job: {
    label: 'Job',
    category: 'work',
    paths: ['M4 7h16a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z', 'M9 7V5a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2', 'M3 13h18'],
  },
  Labor: {
    label: 'Labor',
    category: 'work',
    paths: ['M4 17v-2a8 8 0 0 1 16 0v2', 'M2 17h20v2.5H2z', 'M10 7.5v5', 'M14 7.5v5'],
  },
  Gym: {
    label: 'Gym',
    category: 'fitness',
    paths: ['M6 7v10', 'M3.5 9.5v5', 'M18 7v10', 'M20.5 9.5v5', 'M6 12h12'],
  },
  Park: {
    label: 'Park',
    category: 'fitness',
    paths: ['M12 3a5 5 0 0 1 5 5a4 4 0 0 1-1 7.5H8A4 4 0 0 1 7 8a5 5 0 0 1 5-5z', 'M12 12v9', 'M12 16l-2.5-2.5', 'M8.5 21h7'],
  },
}

const UNKNOWN_PATHS = [circle(12, 12, 8), 'M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .9-1 1.6v.6', 'M12 17h.01']

/** Split CamelCase for names the page has no label for. */
function labelFor(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, '$1 $2')
}

export function affordanceLook(name: string): AffordanceLook {
  return LOOKS[name] ?? { label: labelFor(name), category: 'other', paths: UNKNOWN_PATHS }
}

export const ACTION_GLYPHS: Record<string, string> = {
  UP: '↑',
  DOWN: '↓',
  LEFT: '←',
  RIGHT: '→',
  INTERACT: '✦',
  WAIT: '◌',
}

export const CAUSE_LABELS: Record<string, string> = {
  energy: 'energy ran out',
  health: 'health ran out',
  step_cap: 'reached the step cap',
}

/** Legend words for "ended by ...". */
export const CAUSE_SHORT: Record<string, string> = {
  energy: 'energy',
  health: 'health',
  step_cap: 'step cap',
}
