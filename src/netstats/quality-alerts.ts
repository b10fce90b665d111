/**
 * Poor-network notice hysteresis for one participant (spec NS-D13). Feed it every new class
 * evaluation (one per RTT sample, spec NS-D3); it answers when the gateway must emit
 * NetworkQualityAlert. Keep one tracker per participant across reconnects, so an alert that
 * was raised still gets its clear; `reset` is for a participant that left.
 */
import { Connectivity, type ConnectivityValue } from './grades.js';

export type AlertAction = 'raise' | 'clear' | null;

/** spec NS-D13: consecutive non-POOR, non-UNKNOWN evaluations that clear a raised alert. */
export const CLEAR_AFTER_EVALUATIONS = 2;

export class QualityAlertTracker {
  private raised = false;
  private healthyStreak = 0;

  /** True between a 'raise' and its 'clear'. */
  get active(): boolean {
    return this.raised;
  }

  evaluate(status: ConnectivityValue): AlertAction {
    if (status === Connectivity.CONNECTIVITY_POOR) {
      this.healthyStreak = 0;
      if (this.raised) return null;
      this.raised = true;
      return 'raise';
    }
    // spec NS-D4: UNKNOWN never raises, and breaks a streak toward clearing
    if (status === Connectivity.CONNECTIVITY_UNKNOWN) {
      this.healthyStreak = 0;
      return null;
    }
    if (!this.raised) return null;
    this.healthyStreak++;
    if (this.healthyStreak < CLEAR_AFTER_EVALUATIONS) return null;
    this.raised = false;
    this.healthyStreak = 0;
    return 'clear';
  }

  reset(): void {
    this.raised = false;
    this.healthyStreak = 0;
  }
}
