package main

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The PNGs are widthPx × heightPx pixels: gonum measures in points (1/72 inch), so the
// canvas is sized in points at dpi.
const (
	widthPx, heightPx = 960, 600
	dpi               = 96
)

// savePNG draws p into a widthPx × heightPx PNG at path.
func savePNG(p *plot.Plot, path string) (err error) {
	c := vgimg.NewWith(
		vgimg.UseWH(vg.Length(widthPx)*vg.Inch/dpi, vg.Length(heightPx)*vg.Inch/dpi),
		vgimg.UseDPI(dpi))
	// A margin of white around the plot, so the title and the tick labels do not touch
	// the edges of the image.
	m := vg.Points(12)
	p.Draw(draw.Crop(draw.New(c), m, -m, m, -m))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
