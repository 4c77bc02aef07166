// The dashboard shell: sign-in, the section router (#/section/id?query),
// and the refresh loop that re-draws the current page every few seconds
// from the API without reloading it.
import * as api from './api.js';
import {h, notice} from './dom.js';
import * as overview from './pages/overview.js';
import * as devices from './pages/devices.js';
import * as rollouts from './pages/rollouts.js';
import * as bundles from './pages/bundles.js';
import * as compliance from './pages/compliance.js';
import * as audit from './pages/audit.js';

const REFRESH_MS = 4000;
const sections = {overview, devices, rollouts, bundles, compliance, audit};
// What a role must be allowed to read for each section (GET /me).
const NEEDS = {overview: 'read_devices', devices: 'read_devices', rollouts: 'read_deployments', bundles: 'read_bundles',
  compliance: 'read_devices', audit: 'read_audit'};
const readable = (section) => me && me.permissions.includes(NEEDS[section]);
const $ = (id) => document.getElementById(id);

let me = null;          // GET /me: actor, role, permissions
let drawing = false;    // a draw in flight
let again = false;      // the route changed during it: draw once more
let timer = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, search = ''] = hash.split('?');
  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  const section = sections[segments[0]] ? segments[0] : 'overview';
  return {section, params: segments.slice(1), query: new URLSearchParams(search)};
}

// Replaces the query of the current route (filters), keeping the page.
function setQuery(params) {
  const {section, params: ids} = route();
  const path = ['', section, ...ids.map(encodeURIComponent)].join('/');
  location.hash = path + api.query(params);
}

function confirmAction(title, text, label = 'Confirm', danger = false) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  const ok = $('confirm-ok');
  ok.textContent = label;
  ok.className = danger ? 'danger' : '';
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.removeEventListener('click', yes);
      $('confirm-cancel').removeEventListener('click', no);
      dialog.removeEventListener('cancel', no);
      dialog.close();
      resolve(answer);
    };
    const yes = () => finish(true);
    const no = () => finish(false);
    ok.addEventListener('click', yes);
    $('confirm-cancel').addEventListener('click', no);
    dialog.addEventListener('cancel', no);
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

function context(current) {
  return {
    ...current,
    me,
    can: (permission) => me.permissions.includes(permission),
    confirm: confirmAction,
    setQuery,
    redraw: () => draw(true),
  };
}

function busyTyping() {
  const active = document.activeElement;
  return $('confirm').open || (active && $('view').contains(active) && ['INPUT', 'SELECT', 'TEXTAREA'].includes(active.tagName));
}

let shown = null;  // the location.hash whose page is on screen

async function draw(force = false) {
  if (!me || (!force && busyTyping())) return;
  if (drawing) {
    again = again || force;
    return;
  }
  drawing = true;
  const hash = location.hash;
  const current = route();
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.section === current.section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  let node = null;
  try {
    if (!readable(current.section)) {
      const open = Object.keys(sections).filter(readable);
      node = notice('warn', `The ${me.role} role may not read this page.`,
        open.length ? '' : ' It reads nothing the dashboard shows; it is for the CLI (for example flotilla bundles upload).');
      if (open.length) location.hash = `#/${open[0]}`;
    } else {
      node = await sections[current.section].render(context(current));
    }
    $('connection').textContent = '';
  } catch (e) {
    const unreachable = e instanceof api.ApiError && e.status === 0;
    if (unreachable) $('connection').textContent = `${e.message} (showing what was last read)`;
    // A lost connection keeps the page's last data on screen; any other
    // failure is said in its place.
    if (!unreachable || shown !== hash) node = notice('bad', h('strong', {}, 'Could not load this page: '), e.message);
  } finally {
    drawing = false;
  }
  // Signed out meanwhile, or moved to another page: that page's draw wins.
  if (me && node && location.hash === hash) {
    // Keep keyboard focus on the same control across the redraw.
    const focusedId = $('view').contains(document.activeElement) ? document.activeElement.id : '';
    $('view').replaceChildren(node);
    shown = hash;
    if (focusedId && $(focusedId)) $(focusedId).focus();
    $('refreshed').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }
  if (again || (me && location.hash !== hash)) {
    again = false;
    draw(true);
  }
}

function showSignIn(message = '') {
  me = null;
  clearInterval(timer);
  $('nav').hidden = true;
  $('session').hidden = true;
  $('view').replaceChildren();
  shown = null;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message;
  $('token').focus();
}

async function signIn() {
  const fromForm = document.activeElement === $('token');
  try {
    me = await api.get('/me');
  } catch (e) {
    api.token.clear();
    showSignIn(e.status === 401 ? 'The server refused this token (unknown, expired or revoked).' : e.message);
    return;
  }
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('session').hidden = false;
  $('who').textContent = `${me.token ? me.token.name : me.actor} (${me.role})`;
  for (const link of document.querySelectorAll('#nav a')) link.hidden = !readable(link.dataset.section);
  await draw(true);
  // After the form, focus goes to the content (the form is gone); on a
  // fresh load it stays at the top of the page.
  if (fromForm) $('main').focus({preventScroll: true});
  clearInterval(timer);
  timer = setInterval(() => draw(false), REFRESH_MS);
}

function start() {
  api.whenUnauthorized(() => {
    api.token.clear();
    showSignIn('Your token is no longer accepted; sign in again.');
  });
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    $('token').value = '';
    if (!value) return;
    api.token.set(value);
    signIn();
  });
  $('sign-out').addEventListener('click', () => {
    api.token.clear();
    showSignIn();
  });
  window.addEventListener('hashchange', () => {
    draw(true);
    $('main').focus({preventScroll: true});
  });
  if (api.token.get()) signIn();
  else showSignIn();
}

start();
