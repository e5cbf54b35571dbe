// Kept only for the import of entry-points/nats/answer-balance-requests.ts, which is being
// refactored separately. TODO(issue 18): import readBalances from './wallet-queries' there, then
// delete this file.
export { readBalances } from './wallet-queries';
