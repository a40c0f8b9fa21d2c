// "Notify me in the browser" (templates/accounts/_push_toggle.html): this browser's Web Push
// subscription. One subscription serves every channel its user follows: the server pushes
// "went live" to the subscriptions of a channel's followers. On: subscribe with the site's
// VAPID key and POST the subscription; off: DELETE it and unsubscribe. The service worker
// (push-sw.js) shows the notification and opens the channel on a click.

const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const current = subscription.options && subscription.options.applicationServerKey;
  if (!current) return true; // the browser does not say: assume it is ours
  const a = new Uint8Array(current);
  return a.length === key.length && a.every((byte, i) => byte === key[i]);
}

// The registration once its worker is active: subscribing needs an active worker, and
// serviceWorker.ready never resolves for a scope that does not control this page.
async function activeRegistration(url) {
  const registration = await navigator.serviceWorker.register(url);
  const worker = registration.installing || registration.waiting;
  if (worker && !registration.active) {
    await new Promise((resolve, reject) => {
      worker.addEventListener("statechange", () => {
        if (worker.state === "activated") resolve();
        if (worker.state === "redundant") reject(new Error("The service worker failed to start."));
      });
    });
  }
  return registration;
}

async function send(toggle, method, body) {
  const response = await fetch(toggle.dataset.pushApi, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": toggle.dataset.csrf },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await response.json().catch(() => ({}));
    throw new Error(error.detail || `The server answered ${response.status}.`);
  }
}

function show(toggle, on, note = "") {
  toggle.hidden = false;
  toggle.setAttribute("aria-pressed", on ? "true" : "false");
  toggle.textContent = on ? "Browser notifications on ✓" : "Notify me in the browser";
  const status = toggle.parentElement.querySelector(".push-status");
  if (status) status.textContent = note;
}

async function init(toggle) {
  if (toggle.dataset.pushReady) return;
  toggle.dataset.pushReady = "1";
  if (!supported) return; // stays hidden: this browser has no Web Push
  if (Notification.permission === "denied") {
    show(toggle, false, "Notifications are blocked for this site in your browser.");
    toggle.disabled = true;
    return;
  }
  try {
    const registration = await activeRegistration(toggle.dataset.pushWorker);
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription, keyBytes(toggle.dataset.pushKey))) {
      await subscription.unsubscribe(); // the site's key changed: a new subscription on the next click
      subscription = null;
    }
    show(toggle, Boolean(subscription));
    // Keep the server in step (it drops subscriptions that fail; another user may have had it).
    if (subscription) send(toggle, "POST", subscription.toJSON()).catch(() => {});
  } catch (error) {
    show(toggle, false);
  }
}

async function flip(toggle) {
  toggle.disabled = true;
  try {
    const registration = await activeRegistration(toggle.dataset.pushWorker);
    const subscription = await registration.pushManager.getSubscription();
    if (toggle.getAttribute("aria-pressed") === "true") {
      if (subscription) {
        await send(toggle, "DELETE", { endpoint: subscription.endpoint });
        await subscription.unsubscribe();
      }
      show(toggle, false);
    } else {
      const fresh =
        subscription ||
        (await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(toggle.dataset.pushKey),
        }));
      await send(toggle, "POST", fresh.toJSON());
      show(toggle, true);
    }
  } catch (error) {
    const denied = Notification.permission === "denied";
    show(toggle, toggle.getAttribute("aria-pressed") === "true", denied ? "Notifications are blocked for this site in your browser." : error.message);
  } finally {
    toggle.disabled = Notification.permission === "denied";
  }
}

document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".push-toggle");
  if (toggle && !toggle.disabled) flip(toggle);
});

function scan() {
  document.querySelectorAll(".push-toggle").forEach(init);
}
scan();
// Following swaps the follow box in place (htmx): the toggle comes with it.
document.addEventListener("htmx:afterSettle", scan);
