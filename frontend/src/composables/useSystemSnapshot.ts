import type { Ref } from 'vue'
import type { ConnectionStatus } from '../protocol'
import { watch } from 'vue'
import { validateSystemSnapshot } from '../protocol'
import { useSystemStore } from '../stores/system'
import { requestJson } from './http'

/**
 * `GET /api/system` once per connection: the socket streams the samples, but why no GPU is
 * watched (`gpu_note`) is only said here. A server without the endpoint (404) is left alone.
 */

export const SYSTEM_URL = '/api/system'

export async function fetchSystemSnapshot(): Promise<boolean> {
  const res = await requestJson('GET', SYSTEM_URL)
  if (!res.ok)
    return false
  const parsed = validateSystemSnapshot(res.data)
  if (!parsed.ok) {
    console.warn(`[townlet] ${parsed.error}`)
    return false
  }
  useSystemStore().applySnapshot(parsed.value)
  return true
}

/** Ask each time the socket opens. */
export function useSystemSnapshot(status: Readonly<Ref<ConnectionStatus>>): void {
  watch(status, (now) => {
    if (now === 'open')
      void fetchSystemSnapshot()
  })
}
