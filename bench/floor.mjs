// The machine's floor, measured beside the servers: a bare node:http server answering every request
// with a fixed 200 JSON. What it reaches at the same connection count bounds what any Node.js server
// can reach here, with the load generator sharing the machine. Started by bench/run.mjs.
import { createServer } from 'node:http';

const body = JSON.stringify({ active: true, client_id: 'bench', scope: 'read', token_type: 'Bearer' });
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: server.address().port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
