import type { BatchOperation, BatchResult } from './generated/api-types';

interface Waiting {
  operation: BatchOperation;
  resolve: (result: BatchResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects money calls made within one tick of the event loop (or until `maxOperations` are
 * waiting) and sends them as one POST /batch; each caller gets its own operation's result. The
 * queue never holds more than one tick's calls: it is flushed on the next setImmediate, or at once
 * when full, so nothing waits for a timer.
 */
export class AutoBatcher {
  private readonly waiting: Waiting[] = [];
  private scheduled = false;

  constructor(
    private readonly runBatch: (operations: BatchOperation[]) => Promise<BatchResult[]>,
    private readonly maxOperations: number,
  ) {}

  submit(operation: BatchOperation): Promise<BatchResult> {
    return new Promise<BatchResult>((resolve, reject) => {
      this.waiting.push({ operation, resolve, reject });
      if (this.waiting.length >= this.maxOperations) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flushAll();
        });
      }
    });
  }

  private flushAll(): void {
    while (this.waiting.length > 0) this.flush();
  }

  private flush(): void {
    const taken = this.waiting.splice(0, this.maxOperations);
    if (taken.length === 0) return;
    this.runBatch(taken.map((w) => w.operation)).then(
      (results) => taken.forEach((w, i) => w.resolve(results[i]!)),
      (error: unknown) => taken.forEach((w) => w.reject(error)),
    );
  }
}
