// The reference web client (index.html) and the gateway's GraphiQL page (graphiql.html),
// built into dist/ for the gateway to serve (GATEWAY_WEB_DIR). Everything is self-hosted
// and nothing is inline, so both pages run under the gateway's Content-Security-Policy.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const page = (name) => fileURLToPath(new URL(name, import.meta.url));

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Monaco (GraphiQL's editor) alone is a 2.8 MB chunk, loaded by the GraphiQL page only.
    chunkSizeWarningLimit: 3000,
    rolldownOptions: {
      input: { app: page('index.html'), graphiql: page('graphiql.html') },
      onwarn(warning, warn) {
        // graphiql's files start with React Compiler's "use no memo", meaningless here.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  // Monaco's workers (graphiql/setup-workers/vite) are ES modules that share chunks.
  worker: { format: 'es' },
  // As graphiql's own Vite example does: the worker setup must not be pre-bundled.
  optimizeDeps: {
    exclude: ['graphiql/setup-workers/vite', '@graphiql/react/setup-workers/vite'],
  },
});
