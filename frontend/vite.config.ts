/// <reference types="vitest/config" />
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// The Python live server owns the real endpoints; in development Vite forwards them
// so the page can always use same-origin URLs (no ports in the page itself).
const apiTarget = `http://127.0.0.1:${process.env.TOWNLET_API_PORT ?? 8766}`

export default defineConfig({
  plugins: [vue()],
  server: {
    open: false,
    proxy: {
      '/ws': { target: apiTarget, ws: true, changeOrigin: true },
      '/health': { target: apiTarget, changeOrigin: true },
      '/api': { target: apiTarget, changeOrigin: true },
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
