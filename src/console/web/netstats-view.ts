/**
 * The Network Statistics window: a row per participant (technician or customer icon, RTT,
 * upload and download rate, the grade in its colour, "measuring..." below 3 samples, the P2P
 * flag), refreshed with every NetworkStats the gateway pushes, and the floating "poor network"
 * notice, raised and cleared by the gateway's NetworkQualityAlert (its hysteresis) and
 * dismissable by the user.
 */
import { connectivityName, MEASURING_LABEL, MIN_SAMPLES_FOR_CLASS } from '../../netstats/grades.js';
import { ferry } from '../../protocol/gen/ferry.js';
import { button, clear, formatRate, h } from './dom.js';

const GRADE_CLASS: Readonly<Record<number, string>> = {
  [ferry.v1.Connectivity.CONNECTIVITY_EXCELLENT]: 'grade-excellent',
  [ferry.v1.Connectivity.CONNECTIVITY_GOOD]: 'grade-good',
  [ferry.v1.Connectivity.CONNECTIVITY_AVERAGE]: 'grade-average',
  [ferry.v1.Connectivity.CONNECTIVITY_POOR]: 'grade-poor',
};

export class NetstatsView {
  readonly root: HTMLElement;
  readonly #body: HTMLElement;
  readonly #where: HTMLElement;
  readonly #notice: HTMLElement;
  readonly #noticeText: HTMLElement;
  /** Participants with a raised alert (cleared by the gateway, or dismissed here). */
  readonly #poor = new Map<string, string>();
  #dismissed = false;

  constructor(noticeHost: HTMLElement) {
    this.#body = h('tbody');
    this.#where = h('div', { class: 'netstats-where' });
    this.root = h(
      'section',
      { class: 'netstats', id: 'netstats' },
      h('h3', {}, 'Network Statistics'),
      this.#where,
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, ''),
            h('th', {}, 'participant'),
            h('th', {}, 'RTT'),
            h('th', {}, 'upload'),
            h('th', {}, 'download'),
            h('th', {}, 'grade'),
            h('th', {}, 'P2P'),
          ),
        ),
        this.#body,
      ),
    );
    this.#noticeText = h('span');
    this.#notice = h(
      'div',
      { class: 'poor-notice', id: 'poor-notice', role: 'alert' },
      this.#noticeText,
      button('dismiss', () => {
        this.#dismissed = true;
        this.#render();
      }),
    );
    this.#notice.hidden = true;
    noticeHost.append(this.#notice);
  }

  update(stats: ferry.v1.NetworkStats): void {
    clear(this.#body);
    const loc = stats.gatewayLocation;
    this.#where.textContent = loc?.name ? `gateway: ${loc.name} ${loc.region ?? ''}` : '';
    for (const p of stats.participants as ferry.v1.ParticipantNetStats[]) {
      const measuring = p.sampleCount < MIN_SAMPLES_FOR_CLASS;
      const grade = measuring ? MEASURING_LABEL : connectivityName(p.status);
      const tech = p.role === ferry.v1.Role.ROLE_TECHNICIAN;
      const upload = p.uploadBps;
      const download = p.downloadBps;
      this.#body.append(
        h(
          'tr',
          { 'data-participant': p.participantId },
          h(
            'td',
            {
              class: tech ? 'icon-tech' : 'icon-customer',
              title: tech ? 'technician' : 'customer',
            },
            tech ? 'T' : 'C',
          ),
          h('td', {}, p.displayName),
          h('td', {}, p.sampleCount > 0 ? `${Math.round(p.avgRttMs)} ms` : '–'),
          h('td', {}, upload != null ? formatRate(Number(upload)) : '–'),
          h('td', {}, download != null ? formatRate(Number(download)) : '–'),
          h(
            'td',
            { class: `grade ${measuring ? 'grade-measuring' : (GRADE_CLASS[p.status] ?? '')}` },
            grade,
          ),
          h('td', {}, p.peerToPeer ? 'yes' : 'no'),
        ),
      );
    }
  }

  alert(a: ferry.v1.NetworkQualityAlert): void {
    if (a.cleared) this.#poor.delete(a.participantId);
    else {
      this.#poor.set(a.participantId, a.displayName || a.participantId);
      this.#dismissed = false;
    }
    this.#render();
  }

  #render(): void {
    const names = [...this.#poor.values()];
    this.#notice.hidden = names.length === 0 || this.#dismissed;
    this.#noticeText.textContent = `Poor network: ${names.join(', ')}. The screen may lag.`;
  }
}
