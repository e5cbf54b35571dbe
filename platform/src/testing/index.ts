export * from './test-resources';
export * from './transfer-load';
export * from './validate-against-openapi';
export * from './spawn-process';
