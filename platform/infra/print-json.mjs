// Pretty-prints JSON from stdin for the Makefile's request targets; passes anything else through.
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  try {
    process.stdout.write(`${JSON.stringify(JSON.parse(input), null, 2)}\n`);
  } catch {
    process.stdout.write(`${input}\n`);
  }
});
