// Run from a fresh app that installed the packed package: a mutual-TLS handshake, then a
// post-handshake re-authentication in which the client must present a renewed certificate.
// It prints which addon file the process loaded, so the caller can check that it was the
// prebuilt binary of its platform. install-app.sh derives the ES module twin (handshake.mjs).
const { createServer, connect, reauthorize, DevelopmentCA } = require('continuous-tls');

const flavour = 'cjs';
const DEADLINE_MS = 60_000;

function loadedAddons() {
  // sharedObjects lists what the process dlopen()ed, from CommonJS and ES modules alike.
  return process.report
    .getReport()
    .sharedObjects.filter((file) => file.endsWith('.node'))
    .map((file) => file.slice(file.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

async function main() {
  const ca = await DevelopmentCA.create();
  const serverId = await ca.issueServer({ commonName: 'localhost' });
  const alice = await ca.issueClient({ commonName: 'alice' });
  const renewed = await ca.issueClient({ commonName: 'alice' });

  const server = createServer(
    { key: serverId.key, cert: serverId.chain, ca: ca.rootCert, requestCert: true },
    async (socket) => {
      socket.on('error', () => {});
      // TLS 1.3 post-handshake authentication: the client answers with its identity provider.
      const decision = await reauthorize(socket, { fresh: true, reason: 'install-check' });
      const fresh = decision.allow && decision.certificate?.serialNumber === renewed.serial;
      socket.end(`hello ${socket.getPeerCertificate().subject.CN}, fresh certificate ${fresh ? 'allowed' : 'refused'}`);
    },
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect({
    port: server.address().port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: ca.rootCert,
    // The handshake presents alice's first certificate, the server's later request the renewed one.
    identity: ({ afterHandshake }) => {
      const { key, chain } = afterHandshake ? renewed : alice;
      return { key, cert: chain };
    },
  });
  let reply = '';
  socket.on('data', (chunk) => (reply += chunk));
  const protocol = await new Promise((resolve, reject) => {
    socket.once('secureConnect', () => resolve(socket.getProtocol()));
    socket.once('error', reject);
  });
  await new Promise((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  server.close();
  if (reply !== 'hello alice, fresh certificate allowed') throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  console.log(`${flavour}: ${reply} over ${protocol}; addon ${loadedAddons().join(', ')}`);
}

const deadline = setTimeout(() => {
  console.error(`${flavour}: no answer within ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
