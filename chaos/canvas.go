package chaos

import (
	"image"
	"image/color"
	"image/draw"
	"strings"
)

// canvas is an RGBA image with the few drawing primitives the timeline
// needs: rectangles, lines and 5x7 text.
type canvas struct {
	*image.RGBA
}

func newCanvas(w, h int, bg color.Color) canvas {
	c := canvas{image.NewRGBA(image.Rect(0, 0, w, h))}
	draw.Draw(c.RGBA, c.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	return c
}

// fill blends col (which may be translucent) over the rectangle.
func (c canvas) fill(r image.Rectangle, col color.Color) {
	draw.Draw(c.RGBA, r.Canon(), image.NewUniform(col), image.Point{}, draw.Over)
}

// line draws a 1-pixel line from (x0,y0) to (x1,y1) (Bresenham).
func (c canvas) line(x0, y0, x1, y1 int, col color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		c.Set(x0, y0, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

// thickLine draws a line two pixels thick.
func (c canvas) thickLine(x0, y0, x1, y1 int, col color.Color) {
	c.line(x0, y0, x1, y1, col)
	c.line(x0, y0+1, x1, y1+1, col)
}

// text draws s (upper-cased) with its top-left corner at (x, y), each
// font pixel scale×scale; it returns the width drawn.
func (c canvas) text(x, y int, s string, col color.Color, scale int) int {
	x0 := x
	for _, r := range strings.ToUpper(s) {
		g := glyph(r)
		for row, bits := range g {
			for bit := range 5 {
				if bits&(1<<(4-bit)) != 0 {
					c.fill(image.Rect(x+bit*scale, y+row*scale, x+(bit+1)*scale, y+(row+1)*scale), col)
				}
			}
		}
		x += 6 * scale
	}
	return x - x0
}

// textWidth is the width text would draw s at scale.
func textWidth(s string, scale int) int { return len([]rune(s)) * 6 * scale }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}
