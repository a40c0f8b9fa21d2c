// The service worker of browser pushes (static/js/push.js registers it). A push carries
// {title, body, url, icon, tag} (accounts/push.py); a click opens that page of this site.

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  const options = { body: data.body || "", data: { url: data.url || "/" } };
  if (data.icon) options.icon = data.icon;
  if (data.tag) options.tag = data.tag;
  event.waitUntil(self.registration.showNotification(data.title || "A channel you follow is live", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  // This site's page, whatever host the payload named: a click never leaves the site.
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  const url = self.location.origin + target.pathname + target.search;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => client.url === url && "focus" in client);
      return open ? open.focus() : self.clients.openWindow(url);
    })(),
  );
});
