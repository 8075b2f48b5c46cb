// Package audio is the assistant's ears and mouth: microphone capture through malgo (miniaudio,
// 16 kHz mono signed 16-bit), playback through oto v2, WAV files in and out, and resampling.
//
// It is built to run headless. The ALSA null and file devices (an .asoundrc in $HOME, see the
// alsatest package) stand in for a sound card in tests, and miniaudio's own null backend gives a
// real-time paced silent microphone. A missing sound card is reported as an error wrapping
// ErrNoSoundCard, never as a hang: oto reports it only through its context's Err, and its players
// then claim to play forever, so the Speaker checks the context itself.
package audio
