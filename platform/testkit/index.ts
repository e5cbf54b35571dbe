export * from './repo-root';
export * from './test-resources';
export * from './transfer-load';
export * from './validate-against-openapi';
export * from './spawn-process';
export * from './harnesses/user-service';
export * from './harnesses/transaction-service';
export * from './harnesses/pipeline';
