import type { TrainingSeries } from '../charts/series'
import type { EvaluationMessage, EvaluationPoint, MetricsHistoryMessage, MetricsMessage } from '../protocol'
import { defineStore } from 'pinia'
import { computed, markRaw, ref, shallowRef } from 'vue'
import { appendPoints, emptySeries, seriesFromHistory, sortedEvaluations, withEvaluation } from '../charts/series'

/**
 * The run's training curves and evaluations. The series are large and change about once a
 * second, so they are not deeply reactive: `version` goes up on every change and the charts
 * rebuild their data from `series` when it does (at most about once a second).
 */
export const useMetricsStore = defineStore('metrics', () => {
  const series = shallowRef<TrainingSeries>(markRaw(emptySeries()))
  const evaluations = shallowRef<EvaluationPoint[]>([])
  /** Reports the run has made: the server's history before downsampling, plus live ones since. */
  const totalPoints = ref(0)
  /** True once any training report (history or live) has arrived. */
  const received = ref(false)
  const version = ref(0)

  const pointCount = computed(() => {
    void version.value
    return series.value.env_step.length
  })

  /** Greedy evaluation of each checkpoint, by checkpoint name. */
  const evaluationByCheckpoint = computed(() => new Map(evaluations.value.map(e => [e.checkpoint, e])))

  function applyHistory(msg: MetricsHistoryMessage): void {
    series.value = markRaw(seriesFromHistory(msg.points))
    evaluations.value = sortedEvaluations(msg.evaluations)
    totalPoints.value = msg.total_points
    received.value = true
    version.value++
  }

  function applyMetrics(msg: MetricsMessage): void {
    received.value = true
    const added = appendPoints(series.value, msg.points)
    if (added) {
      totalPoints.value += added
      version.value++
    }
  }

  function applyEvaluation(msg: EvaluationMessage): void {
    evaluations.value = withEvaluation(evaluations.value, msg.evaluation)
    version.value++
  }

  function reset(): void {
    series.value = markRaw(emptySeries())
    evaluations.value = []
    totalPoints.value = 0
    received.value = false
    version.value++
  }

  return { series, evaluations, totalPoints, received, version, pointCount, evaluationByCheckpoint, applyHistory, applyMetrics, applyEvaluation, reset }
})
