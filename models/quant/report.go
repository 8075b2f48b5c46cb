package quant

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// Report is report.json.
type Report struct {
	Settings Settings       `json:"settings"`
	Cost     Cost           `json:"cost"`
	Stage1S  float64        `json:"stage1_s"`
	Stage2S  float64        `json:"stage2_s"`
	Summary  ReportSummary  `json:"summary"`
	Modules  []ModuleReport `json:"modules"`
}

// ReportSummary counts the modules where the final weights beat GPTQ's on held-out windows.
type ReportSummary struct {
	Modules               int     `json:"modules"`
	HeldoutBetterThanGPTQ int     `json:"heldout_better_than_gptq"`
	MeanHeldoutRTN        float64 `json:"mean_heldout_rtn"`
	MeanHeldoutGPTQ       float64 `json:"mean_heldout_gptq"`
	MeanHeldoutFinal      float64 `json:"mean_heldout_final"`
	Reverted              int     `json:"rpiq_reverted"`
}

// NewReport summarises a run.
func NewReport(res *Result, s Settings) *Report {
	r := &Report{Settings: s, Cost: res.Cost, Stage1S: res.Cost.Stage1Sec(), Stage2S: res.Cost.Stage2Sec()}
	for _, m := range res.Modules {
		rep := m.Report
		r.Modules = append(r.Modules, rep)
		r.Summary.Modules++
		if rep.Heldout.Final < rep.Heldout.GPTQ {
			r.Summary.HeldoutBetterThanGPTQ++
		}
		if rep.Reverted {
			r.Summary.Reverted++
		}
		r.Summary.MeanHeldoutRTN += rep.Heldout.RTN
		r.Summary.MeanHeldoutGPTQ += rep.Heldout.GPTQ
		r.Summary.MeanHeldoutFinal += rep.Heldout.Final
	}
	if n := float64(r.Summary.Modules); n > 0 {
		r.Summary.MeanHeldoutRTN /= n
		r.Summary.MeanHeldoutGPTQ /= n
		r.Summary.MeanHeldoutFinal /= n
	}
	return r
}

// WriteReport writes report.json and report.png into dir.
func WriteReport(dir string, r *Report) error {
	if err := hf.WriteJSON(filepath.Join(dir, "report.json"), r); err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(filepath.Join(dir, "report.png"), func(w io.Writer) error { return r.Plot(w) })
}

// Plot draws two panels, the held-out and the single-instance output error per module (log
// scale), with one line for RTN, GPTQ and each RPIQ round.
func (r *Report) Plot(w io.Writer) (err error) {
	defer func() { // the plotting library panics on data it cannot draw: an error, never a crash
		if p := recover(); p != nil {
			err = fmt.Errorf("quant: drawing report.png: %v", p)
		}
	}()
	var rows [][]*plot.Plot
	for _, panel := range []struct {
		title string
		get   func(ModuleReport) ErrSet
	}{
		{"held-out windows", func(m ModuleReport) ErrSet { return m.Heldout }},
		{"single instance (last calibration window)", func(m ModuleReport) ErrSet { return m.Instance }},
	} {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("relative output error per module, %s (%s, %d bits, group %d)", panel.title, r.Settings.Method, r.Settings.Bits, r.Settings.GroupSize)
		p.X.Label.Text = "module (layer order, true-sequential)"
		p.Y.Label.Text = "‖Y_fp − X W_qᵀ‖² / ‖Y_fp‖²"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Top = true
		series := map[string]plotter.XYs{}
		var order []string
		add := func(name string, i int, v float64) {
			if _, ok := series[name]; !ok {
				order = append(order, name)
			}
			series[name] = append(series[name], plotter.XY{X: float64(i), Y: math.Max(v, 1e-12)})
		}
		maxRounds := 0
		for _, m := range r.Modules {
			maxRounds = max(maxRounds, len(panel.get(m).Rounds)-1)
		}
		for i, m := range r.Modules {
			e := panel.get(m)
			add("RTN", i, e.RTN)
			if e.GPTQ > 0 {
				add("GPTQ", i, e.GPTQ)
			}
			// a module that stopped early keeps its last weights in the later rounds
			for t := 1; t <= maxRounds && len(e.Rounds) > 1; t++ {
				v := e.Rounds[min(t, len(e.Rounds)-1)]
				add(fmt.Sprintf("RPIQ round %d", t), i, v)
			}
		}
		lo, hi := math.Inf(1), 0.0
		for _, xys := range series {
			for _, xy := range xys {
				lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
			}
		}
		switch {
		case hi <= 1e-12: // nothing measured (--holdout 0: no held-out windows)
			p.Title.Text = fmt.Sprintf("relative output error per module, %s: none measured (no windows)", panel.title)
			p.Y.Scale, p.Y.Tick.Marker = plot.LinearScale{}, plot.DefaultTicks{}
			p.Y.Min, p.Y.Max = 0, 1
			order = nil
		case lo == hi: // one value: a log axis needs a range around it
			p.Y.Min, p.Y.Max = lo/2, hi*2
		}
		for k, name := range order {
			l, err := plotter.NewLine(series[name])
			if err != nil {
				return err
			}
			l.Color = palette(k)
			l.Width = vg.Points(1.2)
			if name == "RTN" {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			p.Add(l)
			p.Legend.Add(name, l)
		}
		rows = append(rows, []*plot.Plot{p})
	}
	c := r.Cost
	rows[1][0].X.Label.Text = fmt.Sprintf("module (layer order)   —   stage 1: %.1f s, peak heap %.0f MiB;  stage 2: %.1f s, peak heap %.0f MiB;  forward passes %.1f s",
		r.Stage1S, float64(c.Stage1PeakBytes)/(1<<20), r.Stage2S, float64(c.Stage2PeakBytes)/(1<<20), c.ForwardSec)
	img := vgimg.New(vg.Points(900), vg.Points(800))
	dc := draw.New(img)
	canvases := plot.Align(rows, draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(12)}, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

func palette(k int) color.Color {
	cs := []color.RGBA{{120, 120, 120, 255}, {31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255},
		{214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}}
	return cs[k%len(cs)]
}
