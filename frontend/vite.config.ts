/// <reference types="vitest/config" />
import type { ProxyOptions } from 'vite'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'
import { cookieToken, pageTokenMode, pageTokenPlugin, rewriteSameOrigin } from './pageToken.ts'
import { trainerHeaders, trainerStatusPlugin, trainerTarget } from './trainerStatus.ts'

// The Python live server (the trainer's, possibly on another machine) owns the real endpoints;
// in development Vite forwards them so the page always uses same-origin URLs (no hosts or ports
// in the page itself). See trainerStatus.ts for TOWNLET_TRAINER_URL and TOWNLET_TOKEN.
const trainer = trainerTarget()
// Set when the page is served to other machines (pageToken.ts): the browser holds the token.
const cookieMode = pageTokenMode()

const toTrainer: ProxyOptions = {
  target: trainer.url,
  // Host becomes the trainer's. Origin is left as the browser sent it (rewriteWsOrigin off, as
  // by default): the trainer checks it against the page's origin, and a rewritten Origin would
  // pass that check for any page at all.
  changeOrigin: true,
  rewriteWsOrigin: false,
  // The token goes on every forwarded request, the WebSocket upgrade included (http-proxy-3
  // applies `headers` to both), so the browser never holds it.
  headers: trainerHeaders(trainer),
  configure: cookieMode
    ? (proxy) => {
        const rewrite = rewriteSameOrigin(cookieMode)
        proxy.on('proxyReq', rewrite)
        proxy.on('proxyReqWs', rewrite)
      }
    : undefined,
}

export default defineConfig({
  plugins: [
    ...(cookieMode ? [pageTokenPlugin()] : []),
    vue(),
    trainerStatusPlugin(trainer, cookieMode ? { tokenOf: cookieToken } : {}),
  ],
  server: {
    open: false,
    proxy: {
      '/ws': { ...toTrainer, ws: true },
      '/health': toTrainer,
      '/api': toTrainer,
    },
  },
  build: {
    target: 'es2022',
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/unit/**/*.test.ts', 'tests/contract/**/*.test.ts', 'src/**/*.test.ts'],
    restoreMocks: true,
  },
})
