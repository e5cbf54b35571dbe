// Waits until a Kafka broker answers a metadata request (not merely an open port).
// usage: node wait-for-kafka.mjs host:port seconds
import kafkajs from 'kafkajs';

const [broker = '127.0.0.1:9092', seconds = '60'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const kafka = new kafkajs.Kafka({
  clientId: 'wait-for-kafka',
  brokers: [broker],
  logLevel: kafkajs.logLevel.NOTHING,
  connectionTimeout: 1000,
  retry: { retries: 0 },
});

while (Date.now() < deadline) {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [] });
    await admin.disconnect();
    process.exit(0);
  } catch {
    await admin.disconnect().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
process.stderr.write(`no Kafka broker answered on ${broker} within ${seconds} s\n`);
process.exit(1);
