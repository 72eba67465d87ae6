/**
 * Contract test: the page's parser against messages the Python live server really sent.
 *
 * TOWNLET_CONTRACT_MESSAGES names a JSON file holding an array of raw message texts (each the
 * exact text frame the server wrote), for every level. The Python suite writes that file and runs
 *
 *     TOWNLET_CONTRACT_MESSAGES=/path/messages.json npx vitest run tests/contract
 *
 * Each message must parse to a message of the same `type` equal to the JSON it came from:
 * no field lost, none renamed, none changed. Without the variable this file is skipped.
 */
import type { ServerMessage } from '../../src/protocol'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseServerMessage, validateServerMessage } from '../../src/protocol'

const file = process.env.TOWNLET_CONTRACT_MESSAGES

function load(path: string): string[] {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'))
  if (!Array.isArray(raw))
    throw new Error(`${path}: expected a JSON array of message texts`)
  // Texts as the server wrote them; a decoded object is accepted too, re-encoded.
  return raw.map(item => (typeof item === 'string' ? item : JSON.stringify(item)))
}

function typeOf(text: string): string {
  const data: unknown = JSON.parse(text)
  return typeof data === 'object' && data !== null && 'type' in data ? String(data.type) : '(no type)'
}

if (!file) {
  describe('contract with the Python server', () => {
    it.skip('skipped: TOWNLET_CONTRACT_MESSAGES is not set (the Python test suite sets it to a file of real server messages)', () => {})
  })
}
else {
  const texts = load(file)
  const byType = new Map<string, string[]>()
  for (const text of texts)
    byType.set(typeOf(text), [...(byType.get(typeOf(text)) ?? []), text])

  describe(`contract with the Python server (${texts.length} messages from ${file})`, () => {
    it('has messages to check', () => {
      expect(texts.length).toBeGreaterThan(0)
    })

    it.each([...byType.keys()].sort())('every %s message parses, same type, no field lost', (type) => {
      for (const text of byType.get(type) ?? []) {
        const data: unknown = JSON.parse(text)
        const result = validateServerMessage(data)
        // The reason first, so a failure says which field the page disagrees about.
        expect(result.kind === 'malformed' ? result.error : result.kind, text.slice(0, 300)).toBe('message')
        const parsed: ServerMessage | null = parseServerMessage(text)
        expect(parsed?.type).toBe(type)
        expect(parsed).toStrictEqual(data)
      }
    })
  })
}
