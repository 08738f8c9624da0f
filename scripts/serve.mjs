// `npm run serve`: the repository on http://localhost:8080 (PORT to change it), for the browser example.
import { REPOSITORY, serveDirectory } from './static-server.mjs';

const port = Number(process.env.PORT ?? 8080);
await serveDirectory(REPOSITORY, port);
console.log(`serving ${REPOSITORY} on http://localhost:${port}/examples/browser/`);
