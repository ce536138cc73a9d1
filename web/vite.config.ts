import { defineConfig } from "vite";

// `npm run dev` serves the client with hot reload and passes the API through to a gateway started
// with `make run` (http://127.0.0.1:8800). The signaling socket goes to the URL the join answer
// names (the gateway's own), so that gateway must allow this origin (see README.md).
const gateway = process.env.MEETING_GATEWAY ?? "http://127.0.0.1:8800";

export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: {
    proxy: { "/api": gateway },
  },
});
