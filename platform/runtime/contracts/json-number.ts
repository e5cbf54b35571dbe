/**
 * A JSON number exactly as the client wrote it. JSON.parse turns `0.0099999999999999999` into 0.01
 * and `1e2` into 100 before any validation could refuse them, so request bodies keep every number
 * as its source text and the code that reads an amount decides what is acceptable.
 */
export class JsonNumber {
  constructor(readonly source: string) {}

  /** For logs and re-serialisation only; never use the double for money. */
  toJSON(): number {
    return Number(this.source);
  }
}
