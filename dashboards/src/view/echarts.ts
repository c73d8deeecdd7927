// The parts of ECharts 6 the dashboards use (tree-shaken): bar, line, pie and map charts, the
// SVG renderer on the page (shapes and labels are elements a person — and a browser test —
// can point at) and the canvas renderer for PNG downloads.

import * as echarts from "echarts/core";
import { BarChart, LineChart, MapChart, PieChart } from "echarts/charts";
import {
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import { CanvasRenderer, SVGRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  LineChart,
  MapChart,
  PieChart,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
  SVGRenderer,
]);

export { echarts };
export type Option = Record<string, any>;
