import type { ComputedRef, Ref, ShallowRef } from 'vue'
import type { Aligned } from '../charts/series'
import { storeToRefs } from 'pinia'
import { computed, getCurrentScope, onScopeDispose, ref, shallowRef, watch } from 'vue'
import { columnData, fullRange, hasCurriculum, lossData, outcomeData, survivalData } from '../charts/series'
import { useMetricsStore } from '../stores/metrics'
import { useRunStore } from '../stores/run'

/** Charts redraw at most this often, however fast points arrive. */
export const REDRAW_INTERVAL_MS = 1000

export interface ChartData {
  survival: Aligned
  outcome: Aligned
  episodeReturn: Aligned
  loss: Aligned
  exploration: Aligned
  speed: Aligned
  curriculum: Aligned
  /** Whether any point carries a curriculum stage (else that chart is not shown). */
  hasCurriculum: boolean
  hasTrainingPoints: boolean
  hasEvaluations: boolean
  /** Any training point with a finished training episode (survival, return). */
  hasTrainingEpisodes: boolean
  hasLoss: boolean
  fullRange: [number, number] | null
}

export interface TrainingCharts {
  data: ShallowRef<ChartData | null>
  /** What every chart shows: the user's zoom, or everything. */
  xRange: ComputedRef<[number, number] | null>
  zoomed: ComputedRef<boolean>
  setZoom: (min: number, max: number) => void
  resetZoom: () => void
  /** Training step cap and evaluation step cap (the latter null when the same). */
  caps: ComputedRef<{ training: number | null, evaluation: number | null }>
  /** Redraws so far (tests and diagnostics). */
  redraws: Readonly<Ref<number>>
}

/**
 * The training charts' data, rebuilt from the metrics store at most once a second (batched into
 * an animation frame), and the x range shared by every chart (zoom in one, all follow).
 */
export function useTrainingCharts(): TrainingCharts {
  const metrics = useMetricsStore()
  const { hello } = storeToRefs(useRunStore())
  const data = shallowRef<ChartData | null>(null)
  const zoom = ref<[number, number] | null>(null)
  const redraws = ref(0)

  const caps = computed(() => {
    const training = hello.value?.step_cap ?? null
    const evaluation = hello.value?.world.evaluation.step_cap ?? null
    return { training, evaluation: evaluation !== null && evaluation !== training ? evaluation : null }
  })

  function rebuild(): void {
    const s = metrics.series
    const evaluations = metrics.evaluations
    const { training, evaluation } = caps.value
    data.value = {
      survival: survivalData(s, evaluations, training, evaluation),
      outcome: outcomeData(evaluations),
      episodeReturn: columnData(s, 'episode_return'),
      loss: lossData(s),
      exploration: columnData(s, 'epsilon', 'learning_rate'),
      speed: columnData(s, 'steps_per_second'),
      curriculum: columnData(s, 'curriculum_stage'),
      hasCurriculum: hasCurriculum(s),
      hasTrainingPoints: s.env_step.length > 0,
      hasEvaluations: evaluations.length > 0,
      hasTrainingEpisodes: s.training_survival.some(v => v !== null) || s.episode_return.some(v => v !== null),
      hasLoss: s.td_loss.some(v => v !== null && v > 0),
      fullRange: fullRange(s, evaluations),
    }
    redraws.value++
  }

  // --- at most one rebuild per interval, in an animation frame
  let lastAt = -Infinity
  let timer: ReturnType<typeof setTimeout> | undefined
  let frame: number | undefined

  function flush(): void {
    frame = undefined
    lastAt = Date.now()
    rebuild()
  }

  function schedule(): void {
    if (timer !== undefined || frame !== undefined)
      return
    const wait = Math.max(0, lastAt + REDRAW_INTERVAL_MS - Date.now())
    timer = setTimeout(() => {
      timer = undefined
      if (typeof requestAnimationFrame === 'function')
        frame = requestAnimationFrame(flush)
      else
        flush()
    }, wait)
  }

  function cancel(): void {
    if (timer !== undefined)
      clearTimeout(timer)
    if (frame !== undefined && typeof cancelAnimationFrame === 'function')
      cancelAnimationFrame(frame)
    timer = undefined
    frame = undefined
  }

  // Sync: scheduling only sets a timer, and every change must be seen even between ticks.
  watch(() => [metrics.version, caps.value] as const, schedule, { immediate: true, flush: 'sync' })
  if (getCurrentScope())
    onScopeDispose(cancel)

  // Another run behind the same address: its steps have nothing to do with the old zoom.
  watch(() => (hello.value ? `${hello.value.config_name}/${hello.value.level}` : null), () => {
    zoom.value = null
  })

  const xRange = computed(() => zoom.value ?? data.value?.fullRange ?? null)

  return {
    data,
    xRange,
    zoomed: computed(() => zoom.value !== null),
    setZoom(min: number, max: number) {
      if (max > min)
        zoom.value = [min, max]
    },
    resetZoom() {
      zoom.value = null
    },
    caps,
    redraws,
  }
}
