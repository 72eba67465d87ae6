/**
 * A stand-in for the browser WebSocket that the tests drive by hand. Like the real one,
 * `close()` reports the close event later (on a timer), so a test can check that a
 * deliberate close is not mistaken for a drop.
 */
export class FakeWebSocket {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSING = 2
  static readonly CLOSED = 3
  static instances: FakeWebSocket[] = []

  readyState = FakeWebSocket.CONNECTING
  onopen: ((ev: Event) => void) | null = null
  onmessage: ((ev: MessageEvent) => void) | null = null
  onerror: ((ev: Event) => void) | null = null
  onclose: ((ev: CloseEvent) => void) | null = null
  readonly sent: string[] = []
  readonly closeCalls: { code?: number, reason?: string }[] = []

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this)
  }

  static latest(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1)
    if (!ws)
      throw new Error('no WebSocket was created')
    return ws
  }

  static reset(): void {
    FakeWebSocket.instances = []
  }

  send(data: string): void {
    if (this.readyState !== FakeWebSocket.OPEN)
      throw new Error('send on a socket that is not open')
    this.sent.push(data)
  }

  close(code?: number, reason?: string): void {
    this.closeCalls.push({ code, reason })
    this.readyState = FakeWebSocket.CLOSING
    setTimeout(() => {
      this.readyState = FakeWebSocket.CLOSED
      this.onclose?.(new CloseEvent('close', { code: code ?? 1005, wasClean: true }))
    }, 0)
  }

  // --- driven by tests: what the server / network does ---

  serverOpen(): void {
    this.readyState = FakeWebSocket.OPEN
    this.onopen?.(new Event('open'))
  }

  serverSend(data: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data: typeof data === 'string' ? data : JSON.stringify(data) }))
  }

  /** The server closes the connection with `code` (e.g. the sweep's follow code). */
  serverClose(code: number, reason = ''): void {
    this.readyState = FakeWebSocket.CLOSED
    this.onclose?.(new CloseEvent('close', { code, reason, wasClean: true }))
  }

  drop(): void {
    this.readyState = FakeWebSocket.CLOSED
    this.onerror?.(new Event('error'))
    this.onclose?.(new CloseEvent('close', { code: 1006, wasClean: false }))
  }
}
