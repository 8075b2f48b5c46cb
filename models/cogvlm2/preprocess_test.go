package cogvlm2

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"
)

// pilSource is a deterministic 41×29 RGB test pattern; the expected outputs below were produced
// by Pillow 9.4.0 (Debian python3-pil): Image.frombytes("RGB", (41, 29), data).resize((w, h),
// Image.BICUBIC), the call torchvision's Resize makes on a PIL image.
func pilSource() []uint8 {
	const w, h = 41, 29
	out := make([]uint8, 0, 3*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				out = append(out, uint8((x*37+y*91+c*53+((x*y)%17)*13)%256))
			}
		}
	}
	return out
}

var pilResized = []struct {
	w, h int
	hex  string // full output bytes, or a sha256 when long
	hash bool
}{
	{14, 14, "6a87988b94977c78736591979277585876a57c86647e826a879c8e8e826e6a9aa9ab925c6b728277977a898e75967c83948693766e9b7d6490767f937f6f8878947076807c878e6f94887f9f78897f788280698072a58f946c9591667a6a74819c719c7680746a7b879187906c8f7f79788790608a718b807f808d8572958978a0698e6e70848b5b76806c77867f68757d72947d8e8e73848b926aa18181876c95878f6ba4708c8e98628a876f7d7f7383877d878e6c88777d798c786f9183736d837f7b76727176727498757a7a90666e86877879996b8c7c6e999f9c6981858d90877e70837e8c678d9c89816376878899748e678a8669947e7c868b617a80568eb26354b4b8425f9bcd6469938b727e7d8b825078b94b487fcd8f48998970848f779987818d796e8b557e6fa09a83c0b4a2c47b94ac6378b069926a89b05961963265554784766f8a78a76984888371a16a9b90706d6f8770a4b3ad914f61659e798e716c7593929d7a843b5d559ca3ac82707d8e8b8f7178649677818d7e80977e7d817f886e877f6ba9877a87848b757a84847d6977897f82797e67877f6e8673847568777a79897376707a7679867c947e87827e847471638b7e7e856b8c84915e8e7e7f7e7c90868d857f6085776b8f7e7e6d755c89805b8493787b617e858e5d8d7d748e7a7c79b7667f9a736d949178ad5f819b936b928f7b8687777b927d7e876e75887b707d7f80959567848065637c7d758b7d8279878978747367847e8d6a6a73908f83919b5f5e627279738d9476897d86847f8276685f6f768479807c8185847f8f894d79", false},
	{41, 12, "4c817d7d77b579ae72a86ea367a59f9d9a719468a561a1679b615b2761985d92c78cc198bbbc25b51e53174e8c5182b77cb1ad88578c51835c7fb450ae52874c834678ad7cb07773726d9e63a07aa3d8afd2a93a6a366b30659a5e9dcf97c8c3c2bc27b8875f976b6767619f63985f92588d51868987845b7eb087659a7b9d987f689d61b968a48a716b9879b5a47965996c9889bab0a5244b33689d82b7f4e813473569a389b097784a7f699e7f8669a487547c58928faf5e937e9e62589477709c7da99e70533a625690cda8e41bab2c615287bcae8754a26f699186a58a68a9af84658782694c87b3a352876da95082639f8e5b9d74aa88859caa4a81b9a78157657a8a9271a65b9375ac639a404986a3b32804417787bcf27b346a77b7bfce4352707bb0528e6d947651548c646676b26276b3956da6b38e7080b69b43808b9ba980333d7982b7cfa7316675abe8ca184f649dac5a97767886905c93726f7f94956ba1916ba0b18ca07c5a90457d86855894ae5394af72a75b9b4975705b8b659a779f8e5c577fab9965468bb7a1265a8bc09219598ed24b366699c553417e8d80529282648e5989b9669b548d856a9964a587779970677ab6a12a649ac24232659ad398356a99c5524171b18b564178a1975d9e7c6fac7e948276aa5c914581ba6f568f75b1846189749171aa657751bd71a66a8354ba69a67554899266aa868e656381bc7a3273d2d5338ec3a25287bc9b3976bf9b6c88a27d8b6ca0518d705e9667b1659b5f94418e5f979477b4b56b6f724c8996cb417ebabd3e73a84d386dc7802881be7a4680c1896168ab8c687b5c90728c96a655905489a2a24c885b94737c508da08055656488a14d8a8d3b768371a96d4d84b18780926464d44e47ca9224ade81391c6a973a8e8498cc3486ca0877187785f8e669b7c936097954e8081b86c6095628f71a68b4e886f85c15887b32f68a31e578c593b70ed3152cec828b1aa77929166997c4f876aa7a284838b727477ac5a6d9690b78c6e9b71a6908c6d827b66888971964a7fa85173626480748a836a999870acab77b6aa85bab894c9b19ad4a3acce48a58a57ac956566a97678b38871a0547cae678aac758652878b659a946ba6a3785ab6834fb51550c32f64693e73464179534c86626196756f8b81699893765d5fa19a72af5b80bb69927776a5876a5e74a95c997b5699488bc675b86da281a24a929e778f69ad699f779768723570ae6a9fdb97cc7dc6d124c83e54354a8a6c7db67579b3865e9753876680b66aad5e97579060825e93548e9182899b7dbd76b97445e60c48094176336fa45fa4d8959e6f90cd43be4277a182647175b875aa5ea2738c6b7d8f9e81627a53906f93866a558874a95a4875b192807ca68557478873587cab9ac74cac2c583e73a88dc2a9e21e513f6fac94bca784589476668a9174b0935e8a659f4bbc69a276ab6a6a488171958cb6a67957427263a8d0b3a22265376c5c91c6be9863b23864597ead957f4a518e70958974569355ad5b947cb55a8c6fab9b6e5d8056936d7d55558d62558b657383989e7bb168767f906b4348579eb1bb300f4e8392c7a52d3e7480c0ce7e526178865d5fa2789e805e60986c7482927080944177b05e6f7d8b61464e8a9ba9b2863b4b898eccd5643c717fb4f37a21576cacbb6f448183659c6aa17c778c9c9d77ae9f75ad5d99a988659a5187698f6a966a658dae7cb76fa453857f669671a6815f9968647bb79e2c5698bfa5316695ca9d296398d05d4461948e644b73958a5ea18d6e9865978271ab5e984778a4719d9775ac7f6086c3423767abca493571a6e01f3f74a3d7643b7bb899664d7eb1a6705c88794e89a28984b6669b528e5267649e805b906b9783a87c428b855e5485ba699e646a64a17f5388a675aaa5a0695f9c93744b82de093e9acf345b90c5453c798248437ebc958b85b64d8b87699b618b6a9f6fa448ac73a5958f5e578985744b849e643b8dc753497eb30d4479d0393087bc934e7fbca0676163a16792669b6caaa4aa6fa453884bb24e83693d72905794", false},
	{64, 48, "012dd086371688d8313b216f4d92fcc54dd32b394e9cd4608c4b0672ea57105e", true},
	{224, 224, "1aaeb278c183a0d798aeff65d085161e11d5f857b0cae91eab26449f2139c98e", true},
}

func TestResizeMatchesPillow(t *testing.T) {
	src := pilSource()
	for _, c := range pilResized {
		got := resizeBicubic(src, 41, 29, c.w, c.h)
		if c.hash {
			sum := sha256.Sum256(got)
			if hex.EncodeToString(sum[:]) != c.hex {
				t.Errorf("%d×%d: sha256 of our resize differs from Pillow's", c.w, c.h)
			}
			continue
		}
		want, _ := hex.DecodeString(c.hex)
		diff := 0
		for i := range want {
			if got[i] != want[i] {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("%d×%d: %d of %d bytes differ from Pillow", c.w, c.h, diff, len(want))
		}
	}
}

// A pure red image normalises to (1-mean)/std in plane 0 and -mean/std in planes 1 and 2: RGB
// order, CHW layout, CLIP constants.
func TestPreprocessNormalisesCHW(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 30, 20))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+3] = 255, 255
	}
	x, err := Preprocess("red", img, 28)
	if err != nil {
		t.Fatal(err)
	}
	plane := 28 * 28
	want := []float64{(1 - 0.48145466) / 0.26862954, -0.4578275 / 0.26130258, -0.40821073 / 0.27577711}
	for c := 0; c < 3; c++ {
		for i := 0; i < plane; i++ {
			if d := math.Abs(float64(x[c*plane+i]) - want[c]); d > 1e-5 {
				t.Fatalf("channel %d pixel %d: %v want %v", c, i, x[c*plane+i], want[c])
			}
		}
	}
}

func TestImageErrors(t *testing.T) {
	if _, err := DecodeImage("empty.png", nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := DecodeImage("junk.jpg", []byte("not an image at all")); err == nil || !strings.Contains(err.Error(), "junk.jpg") {
		t.Errorf("junk: %v", err)
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4)))
	trunc := buf.Bytes()[:buf.Len()/2]
	if _, err := DecodeImage("cut.png", trunc); err == nil {
		t.Error("truncated PNG decoded")
	}
	if _, err := Preprocess("zero", image.NewRGBA(image.Rect(0, 0, 0, 5)), 28); err == nil {
		t.Error("zero-size image accepted")
	}
	img, err := DecodeImage("ok.png", buf.Bytes())
	if err != nil || img.Bounds().Dx() != 4 {
		t.Fatalf("valid PNG: %v", err)
	}
	var ie *ImageError
	_, err = DecodeImage("junk", []byte("xx"))
	if !errors.As(err, &ie) || !ie.BadInput() {
		t.Error("image errors must be bad input")
	}
}

func FuzzDecodeImage(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 3, 2)))
	f.Add(buf.Bytes())
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeImage("fuzz", data)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx()*b.Dy() > 1<<20 {
			return // decoders accept huge dimensions; skip the resize
		}
		Preprocess("fuzz", img, 14)
	})
}
