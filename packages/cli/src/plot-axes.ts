/**
 * The x axes `shardprop plot --x` offers: fields of every metrics line (samples
 * and seconds in lines written since the step lines came). Apart from plot.ts so
 * that the command's flags do not load vega.
 */
export const PLOT_X = ['step', 'epoch', 'samples', 'seconds'] as const;
export type PlotX = (typeof PLOT_X)[number];
