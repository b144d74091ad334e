// asciichart 1.5 ships no types; only what the history chart uses is declared.
declare module 'asciichart' {
  interface PlotConfig {
    height?: number;
    offset?: number;
    padding?: string;
    colors?: (string | undefined)[];
    format?: (value: number, index: number) => string;
  }
  interface AsciiChart {
    plot(series: number[] | number[][], config?: PlotConfig): string;
    default: string;
  }
  const asciichart: AsciiChart;
  // biome-ignore lint/style/noDefaultExport: the CommonJS module is its default export.
  export default asciichart;
}
