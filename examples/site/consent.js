// The consent banner: what a site's consent tool does, on every page that asks.
window.leadscore = window.leadscore || function () {
  (window.leadscore.q = window.leadscore.q || []).push(arguments);
};
for (const [id, choice] of [["consent-grant", "granted"], ["consent-deny", "denied"]]) {
  document.getElementById(id).addEventListener("click", () => {
    window.leadscore("consent", choice);
    document.getElementById("consent").hidden = true;
  });
}
