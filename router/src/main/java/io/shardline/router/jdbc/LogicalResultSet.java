package io.shardline.router.jdbc;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The application's view of a physical result set: {@link #getStatement()} is the logical statement that produced it
 * (the physical one would hand out a pooled connection of one node: closing it, or writing through it, would go
 * around the driver), and closing it closes that statement when {@link Statement#closeOnCompletion()} asked for it.
 * Everything else is the physical result set's.
 */
@SuppressWarnings("deprecation")
final class LogicalResultSet implements ResultSet {
    private final ResultSet delegate;
    private final LogicalStatement statement;

    LogicalResultSet(ResultSet delegate, LogicalStatement statement) {
        this.delegate = delegate;
        this.statement = statement;
    }

    /** Whether this is the view of {@code physical}. */
    boolean views(ResultSet physical) {
        return delegate == physical;
    }

    @Override
    public Statement getStatement() throws SQLException {
        if (delegate.isClosed()) {
            throw new SQLException("This ResultSet is closed.", "55000");
        }
        return statement;
    }

    /** Closed by its statement's next execution. */
    void closeForNextExecution() throws SQLException {
        delegate.close();
    }

    @Override
    public void close() throws SQLException {
        boolean wasOpen = !delegate.isClosed();
        delegate.close();
        if (wasOpen) {
            statement.resultClosed();
        }
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        return statement.unwrapPhysical(delegate, iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || delegate.isWrapperFor(iface);
    }

    @Override
    public boolean next() throws SQLException {
        return delegate.next();
    }

    @Override
    public boolean wasNull() throws SQLException {
        return delegate.wasNull();
    }

    @Override
    public String getString(int column) throws SQLException {
        return delegate.getString(column);
    }

    @Override
    public boolean getBoolean(int column) throws SQLException {
        return delegate.getBoolean(column);
    }

    @Override
    public byte getByte(int column) throws SQLException {
        return delegate.getByte(column);
    }

    @Override
    public short getShort(int column) throws SQLException {
        return delegate.getShort(column);
    }

    @Override
    public int getInt(int column) throws SQLException {
        return delegate.getInt(column);
    }

    @Override
    public long getLong(int column) throws SQLException {
        return delegate.getLong(column);
    }

    @Override
    public float getFloat(int column) throws SQLException {
        return delegate.getFloat(column);
    }

    @Override
    public double getDouble(int column) throws SQLException {
        return delegate.getDouble(column);
    }

    @Override
    public java.math.BigDecimal getBigDecimal(int column, int x) throws SQLException {
        return delegate.getBigDecimal(column, x);
    }

    @Override
    public byte[] getBytes(int column) throws SQLException {
        return delegate.getBytes(column);
    }

    @Override
    public java.sql.Date getDate(int column) throws SQLException {
        return delegate.getDate(column);
    }

    @Override
    public java.sql.Time getTime(int column) throws SQLException {
        return delegate.getTime(column);
    }

    @Override
    public java.sql.Timestamp getTimestamp(int column) throws SQLException {
        return delegate.getTimestamp(column);
    }

    @Override
    public java.io.InputStream getAsciiStream(int column) throws SQLException {
        return delegate.getAsciiStream(column);
    }

    @Override
    public java.io.InputStream getUnicodeStream(int column) throws SQLException {
        return delegate.getUnicodeStream(column);
    }

    @Override
    public java.io.InputStream getBinaryStream(int column) throws SQLException {
        return delegate.getBinaryStream(column);
    }

    @Override
    public String getString(String label) throws SQLException {
        return delegate.getString(label);
    }

    @Override
    public boolean getBoolean(String label) throws SQLException {
        return delegate.getBoolean(label);
    }

    @Override
    public byte getByte(String label) throws SQLException {
        return delegate.getByte(label);
    }

    @Override
    public short getShort(String label) throws SQLException {
        return delegate.getShort(label);
    }

    @Override
    public int getInt(String label) throws SQLException {
        return delegate.getInt(label);
    }

    @Override
    public long getLong(String label) throws SQLException {
        return delegate.getLong(label);
    }

    @Override
    public float getFloat(String label) throws SQLException {
        return delegate.getFloat(label);
    }

    @Override
    public double getDouble(String label) throws SQLException {
        return delegate.getDouble(label);
    }

    @Override
    public java.math.BigDecimal getBigDecimal(String label, int x) throws SQLException {
        return delegate.getBigDecimal(label, x);
    }

    @Override
    public byte[] getBytes(String label) throws SQLException {
        return delegate.getBytes(label);
    }

    @Override
    public java.sql.Date getDate(String label) throws SQLException {
        return delegate.getDate(label);
    }

    @Override
    public java.sql.Time getTime(String label) throws SQLException {
        return delegate.getTime(label);
    }

    @Override
    public java.sql.Timestamp getTimestamp(String label) throws SQLException {
        return delegate.getTimestamp(label);
    }

    @Override
    public java.io.InputStream getAsciiStream(String label) throws SQLException {
        return delegate.getAsciiStream(label);
    }

    @Override
    public java.io.InputStream getUnicodeStream(String label) throws SQLException {
        return delegate.getUnicodeStream(label);
    }

    @Override
    public java.io.InputStream getBinaryStream(String label) throws SQLException {
        return delegate.getBinaryStream(label);
    }

    @Override
    public java.sql.SQLWarning getWarnings() throws SQLException {
        return delegate.getWarnings();
    }

    @Override
    public void clearWarnings() throws SQLException {
        delegate.clearWarnings();
    }

    @Override
    public String getCursorName() throws SQLException {
        return delegate.getCursorName();
    }

    @Override
    public java.sql.ResultSetMetaData getMetaData() throws SQLException {
        return delegate.getMetaData();
    }

    @Override
    public Object getObject(int column) throws SQLException {
        return delegate.getObject(column);
    }

    @Override
    public Object getObject(String label) throws SQLException {
        return delegate.getObject(label);
    }

    @Override
    public int findColumn(String label) throws SQLException {
        return delegate.findColumn(label);
    }

    @Override
    public java.io.Reader getCharacterStream(int column) throws SQLException {
        return delegate.getCharacterStream(column);
    }

    @Override
    public java.io.Reader getCharacterStream(String label) throws SQLException {
        return delegate.getCharacterStream(label);
    }

    @Override
    public java.math.BigDecimal getBigDecimal(int column) throws SQLException {
        return delegate.getBigDecimal(column);
    }

    @Override
    public java.math.BigDecimal getBigDecimal(String label) throws SQLException {
        return delegate.getBigDecimal(label);
    }

    @Override
    public boolean isBeforeFirst() throws SQLException {
        return delegate.isBeforeFirst();
    }

    @Override
    public boolean isAfterLast() throws SQLException {
        return delegate.isAfterLast();
    }

    @Override
    public boolean isFirst() throws SQLException {
        return delegate.isFirst();
    }

    @Override
    public boolean isLast() throws SQLException {
        return delegate.isLast();
    }

    @Override
    public void beforeFirst() throws SQLException {
        delegate.beforeFirst();
    }

    @Override
    public void afterLast() throws SQLException {
        delegate.afterLast();
    }

    @Override
    public boolean first() throws SQLException {
        return delegate.first();
    }

    @Override
    public boolean last() throws SQLException {
        return delegate.last();
    }

    @Override
    public int getRow() throws SQLException {
        return delegate.getRow();
    }

    @Override
    public boolean absolute(int column) throws SQLException {
        return delegate.absolute(column);
    }

    @Override
    public boolean relative(int column) throws SQLException {
        return delegate.relative(column);
    }

    @Override
    public boolean previous() throws SQLException {
        return delegate.previous();
    }

    @Override
    public void setFetchDirection(int column) throws SQLException {
        delegate.setFetchDirection(column);
    }

    @Override
    public int getFetchDirection() throws SQLException {
        return delegate.getFetchDirection();
    }

    @Override
    public void setFetchSize(int column) throws SQLException {
        delegate.setFetchSize(column);
    }

    @Override
    public int getFetchSize() throws SQLException {
        return delegate.getFetchSize();
    }

    @Override
    public int getType() throws SQLException {
        return delegate.getType();
    }

    @Override
    public int getConcurrency() throws SQLException {
        return delegate.getConcurrency();
    }

    @Override
    public boolean rowUpdated() throws SQLException {
        return delegate.rowUpdated();
    }

    @Override
    public boolean rowInserted() throws SQLException {
        return delegate.rowInserted();
    }

    @Override
    public boolean rowDeleted() throws SQLException {
        return delegate.rowDeleted();
    }

    @Override
    public void updateNull(int column) throws SQLException {
        delegate.updateNull(column);
    }

    @Override
    public void updateBoolean(int column, boolean x) throws SQLException {
        delegate.updateBoolean(column, x);
    }

    @Override
    public void updateByte(int column, byte x) throws SQLException {
        delegate.updateByte(column, x);
    }

    @Override
    public void updateShort(int column, short x) throws SQLException {
        delegate.updateShort(column, x);
    }

    @Override
    public void updateInt(int column, int x) throws SQLException {
        delegate.updateInt(column, x);
    }

    @Override
    public void updateLong(int column, long x) throws SQLException {
        delegate.updateLong(column, x);
    }

    @Override
    public void updateFloat(int column, float x) throws SQLException {
        delegate.updateFloat(column, x);
    }

    @Override
    public void updateDouble(int column, double x) throws SQLException {
        delegate.updateDouble(column, x);
    }

    @Override
    public void updateBigDecimal(int column, java.math.BigDecimal x) throws SQLException {
        delegate.updateBigDecimal(column, x);
    }

    @Override
    public void updateString(int column, String x) throws SQLException {
        delegate.updateString(column, x);
    }

    @Override
    public void updateBytes(int column, byte[] x) throws SQLException {
        delegate.updateBytes(column, x);
    }

    @Override
    public void updateDate(int column, java.sql.Date x) throws SQLException {
        delegate.updateDate(column, x);
    }

    @Override
    public void updateTime(int column, java.sql.Time x) throws SQLException {
        delegate.updateTime(column, x);
    }

    @Override
    public void updateTimestamp(int column, java.sql.Timestamp x) throws SQLException {
        delegate.updateTimestamp(column, x);
    }

    @Override
    public void updateAsciiStream(int column, java.io.InputStream x, int x2) throws SQLException {
        delegate.updateAsciiStream(column, x, x2);
    }

    @Override
    public void updateBinaryStream(int column, java.io.InputStream x, int x2) throws SQLException {
        delegate.updateBinaryStream(column, x, x2);
    }

    @Override
    public void updateCharacterStream(int column, java.io.Reader x, int x2) throws SQLException {
        delegate.updateCharacterStream(column, x, x2);
    }

    @Override
    public void updateObject(int column, Object x, int x2) throws SQLException {
        delegate.updateObject(column, x, x2);
    }

    @Override
    public void updateObject(int column, Object x) throws SQLException {
        delegate.updateObject(column, x);
    }

    @Override
    public void updateNull(String label) throws SQLException {
        delegate.updateNull(label);
    }

    @Override
    public void updateBoolean(String label, boolean x) throws SQLException {
        delegate.updateBoolean(label, x);
    }

    @Override
    public void updateByte(String label, byte x) throws SQLException {
        delegate.updateByte(label, x);
    }

    @Override
    public void updateShort(String label, short x) throws SQLException {
        delegate.updateShort(label, x);
    }

    @Override
    public void updateInt(String label, int x) throws SQLException {
        delegate.updateInt(label, x);
    }

    @Override
    public void updateLong(String label, long x) throws SQLException {
        delegate.updateLong(label, x);
    }

    @Override
    public void updateFloat(String label, float x) throws SQLException {
        delegate.updateFloat(label, x);
    }

    @Override
    public void updateDouble(String label, double x) throws SQLException {
        delegate.updateDouble(label, x);
    }

    @Override
    public void updateBigDecimal(String label, java.math.BigDecimal x) throws SQLException {
        delegate.updateBigDecimal(label, x);
    }

    @Override
    public void updateString(String label, String x) throws SQLException {
        delegate.updateString(label, x);
    }

    @Override
    public void updateBytes(String label, byte[] x) throws SQLException {
        delegate.updateBytes(label, x);
    }

    @Override
    public void updateDate(String label, java.sql.Date x) throws SQLException {
        delegate.updateDate(label, x);
    }

    @Override
    public void updateTime(String label, java.sql.Time x) throws SQLException {
        delegate.updateTime(label, x);
    }

    @Override
    public void updateTimestamp(String label, java.sql.Timestamp x) throws SQLException {
        delegate.updateTimestamp(label, x);
    }

    @Override
    public void updateAsciiStream(String label, java.io.InputStream x, int x2) throws SQLException {
        delegate.updateAsciiStream(label, x, x2);
    }

    @Override
    public void updateBinaryStream(String label, java.io.InputStream x, int x2) throws SQLException {
        delegate.updateBinaryStream(label, x, x2);
    }

    @Override
    public void updateCharacterStream(String label, java.io.Reader x, int x2) throws SQLException {
        delegate.updateCharacterStream(label, x, x2);
    }

    @Override
    public void updateObject(String label, Object x, int x2) throws SQLException {
        delegate.updateObject(label, x, x2);
    }

    @Override
    public void updateObject(String label, Object x) throws SQLException {
        delegate.updateObject(label, x);
    }

    @Override
    public void insertRow() throws SQLException {
        delegate.insertRow();
        statement.rowsWrittenBack();
    }

    @Override
    public void updateRow() throws SQLException {
        delegate.updateRow();
        statement.rowsWrittenBack();
    }

    @Override
    public void deleteRow() throws SQLException {
        delegate.deleteRow();
        statement.rowsWrittenBack();
    }

    @Override
    public void refreshRow() throws SQLException {
        delegate.refreshRow();
    }

    @Override
    public void cancelRowUpdates() throws SQLException {
        delegate.cancelRowUpdates();
    }

    @Override
    public void moveToInsertRow() throws SQLException {
        delegate.moveToInsertRow();
    }

    @Override
    public void moveToCurrentRow() throws SQLException {
        delegate.moveToCurrentRow();
    }

    @Override
    public Object getObject(int column, java.util.Map<String, Class<?>> x) throws SQLException {
        return delegate.getObject(column, x);
    }

    @Override
    public java.sql.Ref getRef(int column) throws SQLException {
        return delegate.getRef(column);
    }

    @Override
    public java.sql.Blob getBlob(int column) throws SQLException {
        return delegate.getBlob(column);
    }

    @Override
    public java.sql.Clob getClob(int column) throws SQLException {
        return delegate.getClob(column);
    }

    @Override
    public java.sql.Array getArray(int column) throws SQLException {
        return delegate.getArray(column);
    }

    @Override
    public Object getObject(String label, java.util.Map<String, Class<?>> x) throws SQLException {
        return delegate.getObject(label, x);
    }

    @Override
    public java.sql.Ref getRef(String label) throws SQLException {
        return delegate.getRef(label);
    }

    @Override
    public java.sql.Blob getBlob(String label) throws SQLException {
        return delegate.getBlob(label);
    }

    @Override
    public java.sql.Clob getClob(String label) throws SQLException {
        return delegate.getClob(label);
    }

    @Override
    public java.sql.Array getArray(String label) throws SQLException {
        return delegate.getArray(label);
    }

    @Override
    public java.sql.Date getDate(int column, java.util.Calendar x) throws SQLException {
        return delegate.getDate(column, x);
    }

    @Override
    public java.sql.Date getDate(String label, java.util.Calendar x) throws SQLException {
        return delegate.getDate(label, x);
    }

    @Override
    public java.sql.Time getTime(int column, java.util.Calendar x) throws SQLException {
        return delegate.getTime(column, x);
    }

    @Override
    public java.sql.Time getTime(String label, java.util.Calendar x) throws SQLException {
        return delegate.getTime(label, x);
    }

    @Override
    public java.sql.Timestamp getTimestamp(int column, java.util.Calendar x) throws SQLException {
        return delegate.getTimestamp(column, x);
    }

    @Override
    public java.sql.Timestamp getTimestamp(String label, java.util.Calendar x) throws SQLException {
        return delegate.getTimestamp(label, x);
    }

    @Override
    public java.net.URL getURL(int column) throws SQLException {
        return delegate.getURL(column);
    }

    @Override
    public java.net.URL getURL(String label) throws SQLException {
        return delegate.getURL(label);
    }

    @Override
    public void updateRef(int column, java.sql.Ref x) throws SQLException {
        delegate.updateRef(column, x);
    }

    @Override
    public void updateRef(String label, java.sql.Ref x) throws SQLException {
        delegate.updateRef(label, x);
    }

    @Override
    public void updateBlob(int column, java.sql.Blob x) throws SQLException {
        delegate.updateBlob(column, x);
    }

    @Override
    public void updateBlob(String label, java.sql.Blob x) throws SQLException {
        delegate.updateBlob(label, x);
    }

    @Override
    public void updateClob(int column, java.sql.Clob x) throws SQLException {
        delegate.updateClob(column, x);
    }

    @Override
    public void updateClob(String label, java.sql.Clob x) throws SQLException {
        delegate.updateClob(label, x);
    }

    @Override
    public void updateArray(int column, java.sql.Array x) throws SQLException {
        delegate.updateArray(column, x);
    }

    @Override
    public void updateArray(String label, java.sql.Array x) throws SQLException {
        delegate.updateArray(label, x);
    }

    @Override
    public java.sql.RowId getRowId(int column) throws SQLException {
        return delegate.getRowId(column);
    }

    @Override
    public java.sql.RowId getRowId(String label) throws SQLException {
        return delegate.getRowId(label);
    }

    @Override
    public void updateRowId(int column, java.sql.RowId x) throws SQLException {
        delegate.updateRowId(column, x);
    }

    @Override
    public void updateRowId(String label, java.sql.RowId x) throws SQLException {
        delegate.updateRowId(label, x);
    }

    @Override
    public int getHoldability() throws SQLException {
        return delegate.getHoldability();
    }

    @Override
    public boolean isClosed() throws SQLException {
        return delegate.isClosed();
    }

    @Override
    public void updateNString(int column, String x) throws SQLException {
        delegate.updateNString(column, x);
    }

    @Override
    public void updateNString(String label, String x) throws SQLException {
        delegate.updateNString(label, x);
    }

    @Override
    public void updateNClob(int column, java.sql.NClob x) throws SQLException {
        delegate.updateNClob(column, x);
    }

    @Override
    public void updateNClob(String label, java.sql.NClob x) throws SQLException {
        delegate.updateNClob(label, x);
    }

    @Override
    public java.sql.NClob getNClob(int column) throws SQLException {
        return delegate.getNClob(column);
    }

    @Override
    public java.sql.NClob getNClob(String label) throws SQLException {
        return delegate.getNClob(label);
    }

    @Override
    public java.sql.SQLXML getSQLXML(int column) throws SQLException {
        return delegate.getSQLXML(column);
    }

    @Override
    public java.sql.SQLXML getSQLXML(String label) throws SQLException {
        return delegate.getSQLXML(label);
    }

    @Override
    public void updateSQLXML(int column, java.sql.SQLXML x) throws SQLException {
        delegate.updateSQLXML(column, x);
    }

    @Override
    public void updateSQLXML(String label, java.sql.SQLXML x) throws SQLException {
        delegate.updateSQLXML(label, x);
    }

    @Override
    public String getNString(int column) throws SQLException {
        return delegate.getNString(column);
    }

    @Override
    public String getNString(String label) throws SQLException {
        return delegate.getNString(label);
    }

    @Override
    public java.io.Reader getNCharacterStream(int column) throws SQLException {
        return delegate.getNCharacterStream(column);
    }

    @Override
    public java.io.Reader getNCharacterStream(String label) throws SQLException {
        return delegate.getNCharacterStream(label);
    }

    @Override
    public void updateNCharacterStream(int column, java.io.Reader x, long x2) throws SQLException {
        delegate.updateNCharacterStream(column, x, x2);
    }

    @Override
    public void updateNCharacterStream(String label, java.io.Reader x, long x2) throws SQLException {
        delegate.updateNCharacterStream(label, x, x2);
    }

    @Override
    public void updateAsciiStream(int column, java.io.InputStream x, long x2) throws SQLException {
        delegate.updateAsciiStream(column, x, x2);
    }

    @Override
    public void updateBinaryStream(int column, java.io.InputStream x, long x2) throws SQLException {
        delegate.updateBinaryStream(column, x, x2);
    }

    @Override
    public void updateCharacterStream(int column, java.io.Reader x, long x2) throws SQLException {
        delegate.updateCharacterStream(column, x, x2);
    }

    @Override
    public void updateAsciiStream(String label, java.io.InputStream x, long x2) throws SQLException {
        delegate.updateAsciiStream(label, x, x2);
    }

    @Override
    public void updateBinaryStream(String label, java.io.InputStream x, long x2) throws SQLException {
        delegate.updateBinaryStream(label, x, x2);
    }

    @Override
    public void updateCharacterStream(String label, java.io.Reader x, long x2) throws SQLException {
        delegate.updateCharacterStream(label, x, x2);
    }

    @Override
    public void updateBlob(int column, java.io.InputStream x, long x2) throws SQLException {
        delegate.updateBlob(column, x, x2);
    }

    @Override
    public void updateBlob(String label, java.io.InputStream x, long x2) throws SQLException {
        delegate.updateBlob(label, x, x2);
    }

    @Override
    public void updateClob(int column, java.io.Reader x, long x2) throws SQLException {
        delegate.updateClob(column, x, x2);
    }

    @Override
    public void updateClob(String label, java.io.Reader x, long x2) throws SQLException {
        delegate.updateClob(label, x, x2);
    }

    @Override
    public void updateNClob(int column, java.io.Reader x, long x2) throws SQLException {
        delegate.updateNClob(column, x, x2);
    }

    @Override
    public void updateNClob(String label, java.io.Reader x, long x2) throws SQLException {
        delegate.updateNClob(label, x, x2);
    }

    @Override
    public void updateNCharacterStream(int column, java.io.Reader x) throws SQLException {
        delegate.updateNCharacterStream(column, x);
    }

    @Override
    public void updateNCharacterStream(String label, java.io.Reader x) throws SQLException {
        delegate.updateNCharacterStream(label, x);
    }

    @Override
    public void updateAsciiStream(int column, java.io.InputStream x) throws SQLException {
        delegate.updateAsciiStream(column, x);
    }

    @Override
    public void updateBinaryStream(int column, java.io.InputStream x) throws SQLException {
        delegate.updateBinaryStream(column, x);
    }

    @Override
    public void updateCharacterStream(int column, java.io.Reader x) throws SQLException {
        delegate.updateCharacterStream(column, x);
    }

    @Override
    public void updateAsciiStream(String label, java.io.InputStream x) throws SQLException {
        delegate.updateAsciiStream(label, x);
    }

    @Override
    public void updateBinaryStream(String label, java.io.InputStream x) throws SQLException {
        delegate.updateBinaryStream(label, x);
    }

    @Override
    public void updateCharacterStream(String label, java.io.Reader x) throws SQLException {
        delegate.updateCharacterStream(label, x);
    }

    @Override
    public void updateBlob(int column, java.io.InputStream x) throws SQLException {
        delegate.updateBlob(column, x);
    }

    @Override
    public void updateBlob(String label, java.io.InputStream x) throws SQLException {
        delegate.updateBlob(label, x);
    }

    @Override
    public void updateClob(int column, java.io.Reader x) throws SQLException {
        delegate.updateClob(column, x);
    }

    @Override
    public void updateClob(String label, java.io.Reader x) throws SQLException {
        delegate.updateClob(label, x);
    }

    @Override
    public void updateNClob(int column, java.io.Reader x) throws SQLException {
        delegate.updateNClob(column, x);
    }

    @Override
    public void updateNClob(String label, java.io.Reader x) throws SQLException {
        delegate.updateNClob(label, x);
    }

    @Override
    public <T> T getObject(int column, Class<T> x) throws SQLException {
        return delegate.getObject(column, x);
    }

    @Override
    public <T> T getObject(String label, Class<T> x) throws SQLException {
        return delegate.getObject(label, x);
    }

    @Override
    public void updateObject(int column, Object x, java.sql.SQLType x2, int x3) throws SQLException {
        delegate.updateObject(column, x, x2, x3);
    }

    @Override
    public void updateObject(String label, Object x, java.sql.SQLType x2, int x3) throws SQLException {
        delegate.updateObject(label, x, x2, x3);
    }

    @Override
    public void updateObject(int column, Object x, java.sql.SQLType x2) throws SQLException {
        delegate.updateObject(column, x, x2);
    }

    @Override
    public void updateObject(String label, Object x, java.sql.SQLType x2) throws SQLException {
        delegate.updateObject(label, x, x2);
    }
}
