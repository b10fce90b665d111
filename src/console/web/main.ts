/**
 * Entry point of the web console bundle: `/join` and `/join/<PIN>` load the customer page,
 * anything else the technician console. Each view is its own chunk, so a customer never
 * downloads the technician's code.
 */
// xterm's stylesheet goes into the entry CSS bundle: the page links only that one
import '@xterm/xterm/css/xterm.css';
import './style.css';

const app = document.getElementById('app');
if (app === null) throw new Error('no #app element');

if (/^\/join(\/|$)/.test(location.pathname)) {
  document.body.dataset.view = 'customer';
  const { startCustomer } = await import('./customer.js');
  startCustomer(app);
} else {
  document.body.dataset.view = 'technician';
  const { startTechnician } = await import('./technician.js');
  startTechnician(app);
}
document.body.dataset.ready = 'yes';
