/**
 * Who holds which samples. Shards are contiguous ranges of the global sample
 * ids, as equal as integer division allows (sizes differ by at most one).
 */
export interface Shard {
  start: number;
  end: number;
}

export function splitShards(total: number, workers: number): Shard[] {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`need at least one worker, got ${workers}`);
  const shards: Shard[] = [];
  for (let w = 0; w < workers; w++) {
    shards.push({ start: Math.floor((w * total) / workers), end: Math.floor(((w + 1) * total) / workers) });
  }
  return shards;
}

export function shardIndices(shard: Shard): Uint32Array {
  const ids = new Uint32Array(shard.end - shard.start);
  for (let i = 0; i < ids.length; i++) ids[i] = shard.start + i;
  return ids;
}

/**
 * How many samples of `batch` each shard holds, written into `out` (one slot per
 * shard); with `owner`, also which shard holds each batch position.
 */
export function countPerShard(batch: Uint32Array, shards: readonly Shard[], out: Int32Array, owner?: Int32Array): void {
  out.fill(0);
  for (let i = 0; i < batch.length; i++) {
    const g = batch[i];
    // shards are few and sorted: a linear scan beats a lookup table for small N
    for (let w = 0; w < shards.length; w++) {
      if (g < shards[w].end) {
        out[w]++;
        if (owner) owner[i] = w;
        break;
      }
    }
  }
}
