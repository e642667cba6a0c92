#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// kinesalite.js - run kinesalite (an independent implementation of the
// Kinesis Data Streams API, in memory) on 127.0.0.1 for the tests.
//
//   node tests/kinesis/kinesalite.js PORT_FILE [PORT]
//
// Listens on 127.0.0.1 only, on PORT (default 0: any free port), and writes
// the bound port to PORT_FILE (a temporary file renamed into place, so a
// reader never sees half a number).  Streams become ACTIVE (and are deleted
// or updated) at once.  SIGTERM or SIGINT closes the server and exits 0, and
// so does the end of the process that started it.
// Run tests/kinesis/setup.sh first: kinesalite is loaded from
// tests/kinesis/node_modules.
'use strict'

const fs = require('fs')
const path = require('path')

const portFile = process.argv[2]
const wantPort = Number(process.argv[3] || 0)
if (!portFile || !Number.isInteger(wantPort) || wantPort < 0 || wantPort > 65535) {
  process.stderr.write('usage: node kinesalite.js PORT_FILE [PORT]\n')
  process.exit(2)
}

let kinesalite
try {
  kinesalite = require(path.join(__dirname, 'node_modules', 'kinesalite'))
} catch (e) {
  process.stderr.write('kinesalite.js: cannot load kinesalite (run tests/kinesis/setup.sh): ' +
    e.message + '\n')
  process.exit(1)
}

const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0 })

server.on('error', (e) => {
  process.stderr.write('kinesalite.js: ' + e.message + '\n')
  process.exit(1)
})

server.listen(wantPort, '127.0.0.1', () => {
  const port = server.address().port
  const tmp = portFile + '.tmp.' + process.pid
  fs.writeFileSync(tmp, port + '\n')
  fs.renameSync(tmp, portFile)
  process.stderr.write('kinesalite listening on 127.0.0.1:' + port + '\n')
})

let stopping = false
function stop () {
  if (stopping) return
  stopping = true
  // Never hang on a client that keeps its connection open.
  setTimeout(() => process.exit(0), 2000).unref()
  server.close(() => process.exit(0))
  if (server.closeAllConnections) server.closeAllConnections()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
// Never outlive the test that started it (a SIGKILLed test cannot stop it).
const parent = process.ppid
setInterval(() => { if (process.ppid !== parent) stop() }, 1000).unref()
