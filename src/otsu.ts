// Otsu's threshold: the split of a histogram that maximises the variance between the two classes
// (Otsu 1979). Used for the tutorial's blue-ratio nuclei mask and for the tissue mask of slides.

/** Otsu's threshold of values (a 256-bin histogram between the minimum and the 99.5th percentile). */
export function otsuThreshold(values: Float32Array): number {
  const n = values.length;
  if (!n) return 0;
  const sorted = Float32Array.from(values).sort();
  const lo = sorted[0];
  const hi = sorted[Math.min(n - 1, Math.floor(0.995 * n))];
  if (!(hi > lo)) return lo;
  const bins = 256;
  const hist = new Float64Array(bins);
  const w = (hi - lo) / bins;
  for (let i = 0; i < n; i++) hist[Math.min(bins - 1, Math.max(0, Math.floor((values[i] - lo) / w)))]++;
  let total = 0;
  for (let i = 0; i < bins; i++) total += i * hist[i];
  // between-class variance of every split "bins <= k | bins > k"; the middle of the best plateau
  // (empty bins between two modes give equal variances)
  const between = new Float64Array(bins).fill(-1);
  let wB = 0, sumB = 0, best = -1;
  for (let k = 0; k < bins - 1; k++) {
    wB += hist[k];
    sumB += k * hist[k];
    const wF = n - wB;
    if (!wB || !wF) continue;
    const d = sumB / wB - (total - sumB) / wF;
    between[k] = wB * wF * d * d;
    best = Math.max(best, between[k]);
  }
  let first = -1, last = -1;
  for (let k = 0; k < bins; k++)
    if (between[k] >= best * (1 - 1e-12) && best >= 0) {
      if (first < 0) first = k;
      last = k;
    }
  if (first < 0) return lo;
  return lo + ((first + last) / 2 + 1) * w;
}
