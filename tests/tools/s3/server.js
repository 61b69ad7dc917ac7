// Starts s3rver on loopback for the cache tests: node server.js DIRECTORY BUCKET. Prints {"port":N} once listening, then
// one line per request: {"method":"PUT","path":"/bucket/key","status":200}.
'use strict';
const S3rver = require('s3rver');

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] });
// First in the chain, so every request is reported with its final status.
server.middleware.unshift(async (ctx, next) => {
  const report = status => process.stdout.write(JSON.stringify({ method: ctx.method, path: ctx.path, status }) + '\n');
  try {
    await next();
  } catch (err) {
    // S3 errors are thrown through here and answered by the error handler with their status.
    report(err.status || 500);
    throw err;
  }
  report(ctx.status);
});
server.run().then(({ port }) => process.stdout.write(JSON.stringify({ port }) + '\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
