/**
 * Frame rate and encoder quality of the native customer's screen capture: the defaults, the
 * three quality presets a technician (or the link grade) picks, and the limits of the flags.
 */
import { ferry } from '../../protocol/gen/ferry.js';

export const DEFAULT_FPS = 10;
/** JPEG/WebP quality 1..100 at the default (balanced) setting. */
export const DEFAULT_QUALITY = 60;
export const MAX_FPS = 30;

export interface CaptureSetting {
  readonly fps: number;
  readonly quality: number;
}

const Q = ferry.v1.QualityPreset;

/**
 * SPEED: lower quality, so each frame is small and comes quickly on a poor link; BALANCED: the
 * defaults; FIDELITY: sharp text, fewer frames.
 */
export const CAPTURE_PRESETS: Readonly<Record<number, CaptureSetting>> = {
  [Q.QUALITY_PRESET_SPEED]: { fps: 12, quality: 35 },
  [Q.QUALITY_PRESET_BALANCED]: { fps: DEFAULT_FPS, quality: DEFAULT_QUALITY },
  [Q.QUALITY_PRESET_FIDELITY]: { fps: 5, quality: 85 },
};

/** A flag value checked: an integer within [min, max], else the reason. */
export function checkSetting(name: string, value: number, min: number, max: number): string | null {
  return Number.isInteger(value) && value >= min && value <= max
    ? null
    : `--${name} must be a whole number from ${min} to ${max}, not ${value}`;
}
