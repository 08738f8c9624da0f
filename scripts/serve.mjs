// `npm run serve`: the repository on http://localhost:8080 (PORT to change it): the lab, built
// into dist/lab/ by `npm run lab` first, and the plain browser example.
import { REPOSITORY, serveDirectory } from './static-server.mjs';

const port = Number(process.env.PORT ?? 8080);
await serveDirectory(REPOSITORY, port);
console.log(`the lab:             http://localhost:${port}/dist/lab/`);
console.log(`the browser example: http://localhost:${port}/examples/browser/`);
console.log('the kernel benchmark page: npm run bench:browser -- --serve (it bundles TF.js, the peer)');
