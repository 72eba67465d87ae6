import type {
  Affordance,
  CheckpointsMessage,
  DeathCause,
  EpisodeEndMessage,
  HelloMessage,
  HistoryMessage,
  ModelLoadedMessage,
  PlayStatusMessage,
  ServerMessage,
  SpeedRange,
  StateMessage,
  TrainingStatusMessage,
  WorldFacts,
} from '../protocol'
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { FULL_RATE_PACE, PANEL_HZ, pacedIntervalMs, TOWN_HZ, usePaced } from '../composables/pacing'
import { validateServerMessage } from '../protocol'
import { useAlertsStore } from './alerts'
import { useCompareStore } from './compare'
import { useFeedbackStore } from './feedback'
import { useMetricsStore } from './metrics'
import { useSystemStore } from './system'

/**
 * Run state as the page knows it: what the server said, when it said it, and what the page
 * derived from it (return so far, survival history). Everything here comes from messages;
 * nothing is guessed. The socket is not here: `useLiveRun` feeds `ingest()`, which validates
 * each frame and hands it on: training curves to the metrics store, side-by-side play to the
 * compare store, answers to this page's requests to the feedback store, alert rules and their
 * states to the alerts store, the machine's samples to the system store.
 */

/** Finished live episodes kept before hello says how many (hello.world.history_length). */
export const DEFAULT_HISTORY_LIMIT = 30
/** Trail of recent agent cells drawn behind the marker. */
export const TRAIL_LIMIT = 8
/** State messages used to measure the actual play rate. */
const RATE_WINDOW = 20

export interface EpisodeRecord {
  episode: number
  steps: number
  return: number
  cause: DeathCause
  /** Checkpoint that was playing when the episode ended (null if none was announced). */
  checkpoint: string | null
  /** True when this episode's checkpoint differs from the previous record's. */
  newCheckpoint: boolean
}

export interface LoadedModel extends ModelLoadedMessage {
  /** Date.now() when this page first saw this checkpoint playing. */
  seenAt: number
}

export interface TrainingSnapshot extends TrainingStatusMessage {
  receivedAt: number
}

/** What the town shows of live play (see `town` below). */
export interface TownView {
  state: StateMessage | null
  trail: { x: number, y: number }[]
}

/** What the panels beside the town show of live play (see `panel` below). */
export interface PanelView {
  state: StateMessage | null
  liveEpisode: number | null
  episodeReturn: number
  returnPartial: boolean
  measuredRate: number | null
}

export const useRunStore = defineStore('run', () => {
  const metrics = useMetricsStore()
  const compare = useCompareStore()
  const feedback = useFeedbackStore()
  const alertsStore = useAlertsStore()
  const system = useSystemStore()

  const hello = shallowRef<HelloMessage | null>(null)
  const affordances = shallowRef<Affordance[]>([])
  const model = shallowRef<LoadedModel | null>(null)
  const waitingMessage = ref<string | null>(null)
  const training = shallowRef<TrainingSnapshot | null>(null)
  const state = shallowRef<StateMessage | null>(null)
  const stateReceivedAt = ref<number | null>(null)

  const liveEpisode = ref<number | null>(null)
  const episodeReturn = ref(0)
  /** True when the page joined this episode late, so `episodeReturn` misses early rewards. */
  const returnPartial = ref(false)
  const lastEnd = shallowRef<EpisodeEndMessage | null>(null)
  const history = ref<EpisodeRecord[]>([])
  const trail = ref<{ x: number, y: number }[]>([])

  /** Live play's pause and pace, as the server last announced them to every viewer. */
  const playStatus = shallowRef<PlayStatusMessage | null>(null)
  /** The run's kept checkpoints and what live play follows. */
  const checkpoints = shallowRef<CheckpointsMessage | null>(null)

  /** Speed last announced by the server (hello, play_status) or requested by this page. */
  const speed = ref<number | null>(null)
  const measuredRate = ref<number | null>(null)
  let stateTimes: number[] = []

  // --- what is drawn of live play, and how often (composables/pacing.ts)
  /** The town: the newest state and trail, at most `TOWN_HZ` times a second above `FULL_RATE_PACE` steps/s. */
  const town = usePaced<TownView>(() => ({ state: state.value, trail: trail.value }), () => pacedIntervalMs(speed.value, TOWN_HZ))
  /**
   * The panels beside the town (meters, Q-values, decision, episode counters, the measured
   * pace): the newest of the fields above, at most `PANEL_HZ` times a second above
   * `FULL_RATE_PACE` steps/s, else on every state.
   */
  const panel = usePaced<PanelView>(() => ({
    state: state.value,
    liveEpisode: liveEpisode.value,
    episodeReturn: episodeReturn.value,
    returnPartial: returnPartial.value,
    measuredRate: measuredRate.value,
  }), () => pacedIntervalMs(speed.value, PANEL_HZ))
  /** Every state is shown: bars may glide from one to the next (above it they would never rest). */
  const smooth = computed(() => speed.value === null || speed.value <= FULL_RATE_PACE)

  const rejected = ref(0)
  const lastRejection = ref<string | null>(null)
  const ignoredTypes = ref<string[]>([])

  const actions = computed(() => hello.value?.actions ?? [])
  const meterNames = computed(() => hello.value?.meters ?? [])
  /** The world's rules, from hello; null until the server has said hello. */
  const world = computed<WorldFacts | null>(() => hello.value?.world ?? null)
  const historyLimit = computed(() => world.value?.history_length ?? DEFAULT_HISTORY_LIMIT)
  const speedRange = computed<SpeedRange | null>(() => world.value?.speed_range ?? null)
  const trainingPaused = computed(() => training.value?.paused === true)
  const playPaused = computed(() => playStatus.value?.paused === true)
  /** Training episodes between the checkpoint on screen and where training has got. */
  const policyLagEpisodes = computed(() =>
    model.value && training.value ? Math.max(0, training.value.episode - model.value.episode) : null)

  function clearEpisode(): void {
    state.value = null
    stateReceivedAt.value = null
    liveEpisode.value = null
    episodeReturn.value = 0
    returnPartial.value = false
    trail.value = []
  }

  function reset(): void {
    hello.value = null
    affordances.value = []
    model.value = null
    waitingMessage.value = null
    training.value = null
    lastEnd.value = null
    history.value = []
    playStatus.value = null
    checkpoints.value = null
    speed.value = null
    measuredRate.value = null
    stateTimes = []
    clearEpisode()
    metrics.reset()
    compare.reset()
    // The machine's samples stay: the new run's system_history replaces them anyway.
    alertsStore.reset()
  }

  function applyHello(msg: HelloMessage): void {
    const prev = hello.value
    // A different run behind the same address (or another trial of the sweep): nothing we
    // knew about the old one applies.
    if (prev && (prev.config_name !== msg.config_name || prev.level !== msg.level || prev.run_id !== msg.run_id))
      reset()
    hello.value = msg
    affordances.value = msg.affordances
    speed.value = msg.steps_per_second
    // A (re)connect: the gap since the last state says nothing about the play rate.
    stateTimes = []
    measuredRate.value = null
  }

  function applyState(msg: StateMessage, now: number): void {
    const prev = state.value
    if (liveEpisode.value !== msg.episode) {
      // Joined mid-episode (or missed episode_start): count from here and say so.
      liveEpisode.value = msg.episode
      episodeReturn.value = 0
      returnPartial.value = msg.step > 1
      trail.value = []
    }
    const isNewStep = !prev || prev.episode !== msg.episode || msg.step > prev.step
    if (isNewStep) {
      episodeReturn.value += msg.reward
      if (prev && prev.episode === msg.episode && (prev.x !== msg.x || prev.y !== msg.y))
        trail.value = [...trail.value, { x: prev.x, y: prev.y }].slice(-TRAIL_LIMIT)
    }
    state.value = msg
    stateReceivedAt.value = now

    stateTimes.push(now)
    if (stateTimes.length > RATE_WINDOW)
      stateTimes = stateTimes.slice(-RATE_WINDOW)
    const first = stateTimes[0]
    const span = first === undefined ? 0 : now - first
    measuredRate.value = stateTimes.length >= 5 && span > 0 ? ((stateTimes.length - 1) * 1000) / span : null
  }

  function applyEpisodeEnd(msg: EpisodeEndMessage): void {
    lastEnd.value = msg
    const checkpoint = model.value?.checkpoint ?? null
    const records = [...history.value]
    // A repeated episode_end (e.g. re-sent after a reconnect) replaces, never duplicates.
    if (records.at(-1)?.episode === msg.episode)
      records.pop()
    const prev = records.at(-1)
    records.push({
      episode: msg.episode,
      steps: msg.steps,
      return: msg.return,
      cause: msg.cause,
      checkpoint,
      newCheckpoint: prev !== undefined && prev.checkpoint !== checkpoint,
    })
    history.value = records.slice(-historyLimit.value)
    // The server's total is authoritative for the finished episode.
    if (liveEpisode.value === msg.episode) {
      episodeReturn.value = msg.return
      returnPartial.value = false
    }
  }

  /** The server's record of earlier live episodes replaces ours: it is idempotent on reconnect. */
  function applyHistory(msg: HistoryMessage): void {
    history.value = msg.episodes.slice(-historyLimit.value).map((e, i, all) => ({
      ...e,
      newCheckpoint: i > 0 && all[i - 1]?.checkpoint !== e.checkpoint,
    }))
  }

  function applyModelLoaded(msg: ModelLoadedMessage, now: number): void {
    const same = model.value?.checkpoint === msg.checkpoint && model.value.env_step === msg.env_step
    // A reconnect re-announces the same checkpoint: keep when we first saw it.
    model.value = { ...msg, seenAt: same && model.value ? model.value.seenAt : now }
    waitingMessage.value = null
  }

  function apply(msg: ServerMessage, now: number = Date.now()): void {
    switch (msg.type) {
      case 'hello':
        applyHello(msg)
        break
      case 'model_loaded':
        applyModelLoaded(msg, now)
        break
      case 'waiting_for_model':
        model.value = null
        waitingMessage.value = msg.message
        break
      case 'episode_start':
        liveEpisode.value = msg.episode
        affordances.value = msg.affordances
        episodeReturn.value = 0
        returnPartial.value = false
        trail.value = []
        break
      case 'state':
        applyState(msg, now)
        break
      case 'episode_end':
        applyEpisodeEnd(msg)
        break
      case 'history':
        applyHistory(msg)
        break
      case 'training_status':
        training.value = { ...msg, receivedAt: now }
        break
      case 'play_status':
        playStatus.value = msg
        speed.value = msg.steps_per_second
        break
      case 'checkpoints':
        checkpoints.value = msg
        break
      case 'metrics_history':
        metrics.applyHistory(msg)
        break
      case 'metrics':
        metrics.applyMetrics(msg)
        break
      case 'evaluation':
        metrics.applyEvaluation(msg)
        break
      case 'compare_started':
        compare.applyStarted(msg)
        break
      case 'compare_state':
        compare.applyState(msg, { world: world.value, stepCap: hello.value?.step_cap ?? null })
        break
      case 'compare_stopped':
        compare.applyStopped(msg.reason)
        break
      case 'ack':
        feedback.ack(msg)
        break
      case 'error':
        feedback.error(msg)
        break
      case 'alerts':
        alertsStore.applyMessage(msg)
        break
      case 'system':
        system.applySample(msg)
        break
      case 'system_history':
        system.applyHistory(msg)
        break
    }
  }

  /**
   * Validate and apply one decoded frame. Malformed frames are counted and warned about,
   * unknown types ignored (warned about once per type); neither ever throws.
   */
  function ingest(data: unknown, now: number = Date.now()): void {
    const result = validateServerMessage(data)
    if (result.kind === 'message') {
      apply(result.message, now)
    }
    else if (result.kind === 'unknown') {
      if (!ignoredTypes.value.includes(result.type)) {
        console.warn(`[townlet] ignoring messages of unknown type '${result.type}'`)
        ignoredTypes.value = [...ignoredTypes.value, result.type]
      }
    }
    else {
      console.warn(`[townlet] dropped a malformed message: ${result.error}`)
      rejected.value += 1
      lastRejection.value = result.error
    }
  }

  /** This page asked for a speed: show it at once; the next play_status is authoritative. */
  function noteSpeedRequest(stepsPerSecond: number): void {
    speed.value = stepsPerSecond
  }

  return {
    hello,
    affordances,
    model,
    waitingMessage,
    training,
    state,
    stateReceivedAt,
    liveEpisode,
    episodeReturn,
    returnPartial,
    lastEnd,
    history,
    trail,
    town,
    panel,
    smooth,
    playStatus,
    checkpoints,
    speed,
    measuredRate,
    rejected,
    lastRejection,
    ignoredTypes,
    actions,
    meterNames,
    world,
    historyLimit,
    speedRange,
    trainingPaused,
    playPaused,
    policyLagEpisodes,
    apply,
    ingest,
    noteSpeedRequest,
    reset,
  }
})
