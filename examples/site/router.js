// A client-side router: the product tour changes views with history.pushState, no page load.
const views = {
  "/product": ["Product tour", "Approvals, hand-offs and audits in one place."],
  "/product/features": ["Features", "Approval chains, SLAs per step, an audit log of every change."],
  "/product/integrations": ["Integrations", "Slack, Microsoft Teams, Salesforce, HubSpot and a REST API."],
};

function show(path) {
  const [title, text] = views[path] || views["/product"];
  document.title = `${title}: Acmeflow`;
  document.getElementById("view-title").textContent = title;
  document.getElementById("view-text").textContent = text;
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-route]");
  if (!link) return;
  event.preventDefault();
  const path = new URL(link.href).pathname;
  if (path !== location.pathname) {
    show(path); // the new title first, so the page view names the view it is of
    history.pushState({}, "", path);
  }
});
window.addEventListener("popstate", () => show(location.pathname));
show(location.pathname);
