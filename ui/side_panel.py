"""SidePanel: the window's side tabs beside the image, collapsible to a narrow rail of tab titles.

The image comes first: the panel's pages scroll inside the panel when they are larger than it
(no page can make the window taller than the screen), and the whole panel folds to its rail of tab
titles. Clicking the open tab's title folds or unfolds the panel; clicking another title opens it.
When the theme's roomy titles are taller than the panel (13 tabs at 1280 x 800), they shrink, a
step at a time, so that every title stays in sight rather than behind a scroll arrow.
Pages are wrapped in scroll areas, but the panel answers with the pages themselves (`widget`,
`currentWidget`, `indexOf`, `setCurrentWidget`), so callers never see the wrapping.
The pages scroll down, never sideways: their labels wrap and their lists shrink to the panel's width
(`let_narrow`), so no page sets the window's minimum width (it fits a 1280 px screen).
The mouse wheel scrolls pages and changes nothing the user did not click: over the rail or over a
choice or number box or a slider without the keyboard focus it scrolls the page (`_WheelScrollsPage`).
"""

from __future__ import annotations

from PyQt6.QtCore import QCoreApplication, QEvent, QObject, Qt, pyqtSignal
from PyQt6.QtGui import QResizeEvent, QShowEvent
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QFrame,
    QLabel,
    QScrollArea,
    QScrollBar,
    QSizePolicy,
    QStackedWidget,
    QTabBar,
    QTabWidget,
    QWidget,
)

EXPANDED_MIN_WIDTH_PX = 250  # narrower, the imaging controls' sliders stop being usable
# The rail's titles when the theme's roomy ones do not all fit its height (13 tabs at 1280 x 800):
# a title hidden behind a scroll arrow (the trainee's Practice tab) is a tab nobody finds.
# Smaller and smaller titles, the first that fits is used ("" = the theme's roomy ones).
RAIL_STYLES = (
    "",
    "QTabBar::tab:east { padding: 4px 1px; min-height: 0px; font-size: 12px; }",
    "QTabBar::tab:east { padding: 2px 1px; min-height: 0px; font-size: 11px; }",
    "QTabBar::tab:east { padding: 1px 0px; min-height: 0px; font-size: 10px; }",
)
COMBO_MIN_CHARS = 8  # a choice box this many characters wide at least; its list shows whole names


class _WheelScrollsPage(QObject):
    """Turns the wheel over a tab rail, or over a choice or number box or a slider the user has not
    clicked into, into a scroll of the page around it: scrolling past a box, a slider or the rail never
    changes the tab or the value (the study to send, the pain side, the colour gain). One with the
    keyboard focus takes the wheel."""

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        if event is None or event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        if isinstance(watched, QComboBox | QAbstractSpinBox | QAbstractSlider) and watched.hasFocus():
            return False
        area = _page_area(watched)
        if area is not None and area.isVisible():
            QCoreApplication.sendEvent(area.viewport(), event.clone())  # type: ignore[union-attr]
        event.accept()  # handled: not passed on to the parents (a rail's tab widget, the window)
        return True


def _page_area(widget: QWidget) -> QAbstractScrollArea | None:
    """The scroll area the wheel over `widget` scrolls: a rail's open page, or the one around a box."""
    if isinstance(widget, QTabBar):
        tabs = widget.parentWidget()
        page = QTabWidget.currentWidget(tabs) if isinstance(tabs, QTabWidget) else None
        return page if isinstance(page, QAbstractScrollArea) else None
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent


def _guard_wheel(
    widget: QComboBox | QAbstractSpinBox | QAbstractSlider | QTabBar, guard: _WheelScrollsPage
) -> None:
    # Qt gives a wheel-focus box the focus before any filter sees the wheel: only a click or Tab may.
    if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(guard)


class _Narrowing(QObject):
    """Keeps a page narrow as features add widgets to it later (a list of missing items, a form)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.wheel_guard = _WheelScrollsPage(self)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        if event is not None and event.type() == QEvent.Type.ChildAdded:
            child = event.child()  # type: ignore[attr-defined]
            if isinstance(child, QWidget):
                _narrow(child, self)
        return False


def _narrow(widget: QWidget, watcher: _Narrowing) -> None:
    for w in (widget, *widget.findChildren(QWidget)):
        w.installEventFilter(watcher)
        if isinstance(w, QLabel) and not w.wordWrap():
            w.setWordWrap(True)  # a long label wraps rather than widening the window
        elif isinstance(w, QComboBox):
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(COMBO_MIN_CHARS)
            _guard_wheel(w, watcher.wheel_guard)
        elif isinstance(w, QAbstractSpinBox | QAbstractSlider) and not isinstance(w, QScrollBar):
            _guard_wheel(w, watcher.wheel_guard)  # a scroll bar scrolls: what the wheel is for
        elif isinstance(w, QAbstractItemView):
            policy = w.sizePolicy()  # a list or table scrolls inside itself; its longest row sets nothing
            policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
            w.setSizePolicy(policy)


def let_narrow(widget: QWidget) -> None:
    """Let `widget` (a side tab's page, a dock's body) shrink to a narrow column, now and as widgets
    are added to it: labels wrap, choice boxes and lists stop asking for their longest entry; the
    wheel over a choice or number box or a slider not clicked into scrolls the page rather than it."""
    watcher = _Narrowing(widget)
    _narrow(widget, watcher)


class SidePanel(QTabWidget):
    """Side tabs on a rail at the window's edge; `set_collapsed` folds the pages away."""

    collapsed_changed = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabPosition(QTabWidget.TabPosition.East)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setUsesScrollButtons(True)  # on a short screen the rail scrolls rather than grows
        self._collapsed = False
        self.expanded_width_px = 0  # the width before the last fold (0: never folded while shown)
        self._areas: dict[int, QScrollArea] = {}  # id(page) -> its scroll area
        self.tabBarClicked.connect(self._on_title_clicked)
        self._wheel_guard = _WheelScrollsPage(self)
        bar = self.tabBar()
        assert bar is not None
        _guard_wheel(bar, self._wheel_guard)  # the wheel over the rail scrolls the open page
        self.compact_rail = False  # the rail's titles are smaller than the theme's, so all of them fit
        self._rail_style = 0  # index into RAIL_STYLES
        self._rail_px: list[int] | None = None  # the rail's height in each of RAIL_STYLES

    # -- pages (the scroll areas stay hidden from callers) ---------------------------------------

    def addTab(self, widget: QWidget | None, title: str | None) -> int:  # type: ignore[override]
        assert widget is not None
        area = QScrollArea()
        area.setWidget(widget)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        # pages narrow to the panel; one still wider scrolls sideways (never cut, never widening it)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        let_narrow(widget)
        self._areas[id(widget)] = area
        return super().addTab(area, title or "")

    def widget(self, index: int) -> QWidget | None:
        area = super().widget(index)
        return area.widget() if isinstance(area, QScrollArea) else area

    def currentWidget(self) -> QWidget | None:
        return self.widget(self.currentIndex())

    def indexOf(self, widget: QWidget | None) -> int:
        area = self._areas.get(id(widget))
        return super().indexOf(area if area is not None else widget)

    def setCurrentWidget(self, widget: QWidget | None) -> None:
        index = self.indexOf(widget)
        if index >= 0:
            self.setCurrentIndex(index)

    def removeTab(self, index: int) -> None:
        area = super().widget(index)
        super().removeTab(index)
        if isinstance(area, QScrollArea):
            # The page goes back to its owner, who may add it again (the Time-out tab comes and goes):
            # a hidden scroll area left holding it crashed Qt when the panel next unfolded.
            page = area.takeWidget()
            if page is not None:
                self._areas.pop(id(page), None)
            area.deleteLater()

    # -- the rail ----------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._fit_rail()

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        self._fit_rail()

    def tabInserted(self, index: int) -> None:
        super().tabInserted(index)
        self._fit_rail(titles_changed=True)

    def tabRemoved(self, index: int) -> None:
        super().tabRemoved(index)
        self._fit_rail(titles_changed=True)

    def _fit_rail(self, *, titles_changed: bool = False) -> None:
        """The roomiest titles that all fit the panel's height (the smallest when none do)."""
        bar = self.tabBar()
        if bar is None or not self.isVisible():
            self._rail_px = None  # the theme applies once shown: measure then
            return
        if self._rail_px is None or titles_changed:
            self._rail_px = []
            for style in RAIL_STYLES:
                bar.setStyleSheet(style)
                self._rail_px.append(bar.sizeHint().height())
            bar.setStyleSheet(RAIL_STYLES[self._rail_style])
        fits = [i for i, px in enumerate(self._rail_px) if px <= self.height()]
        chosen = fits[0] if fits else len(RAIL_STYLES) - 1
        if chosen != self._rail_style:
            self._rail_style = chosen
            self.compact_rail = chosen > 0
            bar.setStyleSheet(RAIL_STYLES[chosen])

    @property
    def collapsed(self) -> bool:
        return self._collapsed

    def rail_width(self) -> int:
        """The width of the folded panel: its tab titles only."""
        bar = self.tabBar()
        return (bar.sizeHint().width() if bar is not None else 32) + 2

    def set_collapsed(self, collapsed: bool) -> None:
        if collapsed == self._collapsed:
            return
        if collapsed and self.isVisible():
            self.expanded_width_px = self.width()  # to unfold to the width it had
        self._collapsed = collapsed
        stack = self.findChild(QStackedWidget)
        if stack is not None:
            stack.setVisible(not collapsed)
        if collapsed:
            self.setFixedWidth(self.rail_width())
        else:
            self.setMinimumWidth(EXPANDED_MIN_WIDTH_PX)
            self.setMaximumWidth(16777215)  # QWIDGETSIZE_MAX
        self.collapsed_changed.emit(collapsed)

    def _on_title_clicked(self, index: int) -> None:
        if index == self.currentIndex():
            self.set_collapsed(not self._collapsed)
        else:
            self.set_collapsed(False)
