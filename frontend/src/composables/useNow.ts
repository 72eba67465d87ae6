import type { Ref } from 'vue'
import { getCurrentScope, onScopeDispose, readonly, ref } from 'vue'

/** A `Date.now()` that ticks every `intervalMs`, for "12 s ago" labels; stops with its scope. */
export function useNow(intervalMs = 1000): Readonly<Ref<number>> {
  const now = ref(Date.now())
  const timer = setInterval(() => {
    now.value = Date.now()
  }, intervalMs)
  if (getCurrentScope())
    onScopeDispose(() => clearInterval(timer))
  return readonly(now)
}
